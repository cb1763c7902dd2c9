// gankit lab: listens to the server's frames (Server-Sent Events) and draws them; sends the
// controls and settings. The server trains; this page only shows and asks.
(function () {
  "use strict";
  const L = window.gankitLogic;
  const $ = (id) => document.getElementById(id);
  const form = $("settings");
  const C = { real: "#1e8449", fake: "#7d3c98", d: "#1f4e79", g: "#d35400", opt: "#c0392b", grid: "#ddd", text: "#333" };
  let frame = null, session = null, dirty = false;

  // --- talking to the server -----------------------------------------------------------------
  function showMessage(text) {
    const box = $("message");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function post(path, body) {
    let reply;
    try {
      const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
      reply = await r.json();
      if (!r.ok) { showMessage(reply.error || `the server answered ${r.status}`); return null; }
    } catch (e) {
      showMessage(`the lab server cannot be reached (${e.message}); is gankit lab still running?`);
      return null;
    }
    showMessage("");
    return reply;
  }

  function formFields() {
    const fields = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      fields[el.name] = el.type === "checkbox" ? el.checked : el.value;
    }
    return fields;
  }

  function fillForm(settings) {
    const fields = L.fieldsFromSettings(settings);
    for (const el of form.elements) {
      if (!el.name) continue;
      const v = fields[el.name];
      if (el.type === "checkbox") el.checked = v === true;
      else el.value = v === undefined ? "" : v;
      if (el.tagName === "SELECT" && el.selectedIndex < 0) el.selectedIndex = 0;  // e.g. recipe: plain
    }
    document.querySelectorAll(".only-critic").forEach((e) => (e.hidden = form.elements.recipe.value !== "critic"));
  }

  form.addEventListener("change", async () => {
    document.querySelectorAll(".only-critic").forEach((e) => (e.hidden = form.elements.recipe.value !== "critic"));
    dirty = true;
    const reply = await post("/api/config", L.buildSettings(formFields()));
    dirty = false;
    if (reply) session = null;  // the next frame refills the form from the new session
  });
  form.addEventListener("submit", (e) => e.preventDefault());

  $("play").onclick = () => post("/api/control", { action: "play" });
  $("pause").onclick = () => post("/api/control", { action: "pause" });
  $("one-step").onclick = () => post("/api/control", { action: "step" });
  $("reset").onclick = () => post("/api/control", { action: "reset" });
  $("speed").onchange = () => post("/api/control", { action: "speed", speed: Number($("speed").value) });
  $("save").onclick = async () => {
    $("save-result").textContent = "saving...";
    const r = await post("/api/save", { out: $("save-out").value.trim() || null });
    $("save-result").textContent = r ? `saved step ${r.step} to ${r.path}; continue with: ${r.resume}` : "not saved";
    $("save-result").dataset.path = r ? r.path : "";
  };

  async function loadOptions() {
    const r = await fetch("/api/options");
    const o = await r.json();
    const fill = (select, names, extra) => {
      select.innerHTML = "";
      for (const [value, label] of [...(extra || []), ...names.map((n) => [n, n])]) select.add(new Option(label, value));
    };
    fill(form.elements.recipe, o.recipe);
    fill(form.elements.loss, o.loss);
    fill(form.elements.penalty, o.penalty, [["", "objective's default"], ["none", "none"]]);
    $("data-list").innerHTML = o.data.map((d) => `<option value="${d}">`).join("");
  }

  function listen() {
    const source = new EventSource("/api/events");
    source.onmessage = (e) => {
      frame = JSON.parse(e.data);
      window.gankitFramesReceived = (window.gankitFramesReceived || 0) + 1;  // read by benchmarks/lab_rate.py
      if (frame.session !== session && !dirty && !form.contains(document.activeElement)) {
        session = frame.session;
        fillForm(frame.settings);
      }
      requestAnimationFrame(draw);
    };
    source.onerror = () => showMessage("lost the connection to the lab server; retrying...");
    source.onopen = () => { if ($("message").textContent.startsWith("lost")) showMessage(""); };
  }

  // --- drawing -------------------------------------------------------------------------------
  function axes(ctx, w, h, m) {
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = C.grid;
    ctx.strokeRect(m, m / 2, w - 1.5 * m, h - 1.5 * m);
  }

  // A line plot of ys over xs into the box [m, w - m/2] x [m/2, h - m] with y range yr.
  function line(ctx, xs, ys, xr, yr, w, h, m, colour, dash) {
    const X = (x) => m + ((x - xr[0]) / (xr[1] - xr[0] || 1)) * (w - 1.5 * m);
    const Y = (y) => h - m - ((y - yr[0]) / (yr[1] - yr[0] || 1)) * (h - 1.5 * m);
    ctx.save();
    ctx.beginPath();
    ctx.rect(m, m / 2, w - 1.5 * m, h - 1.5 * m);
    ctx.clip();
    ctx.strokeStyle = colour;
    ctx.setLineDash(dash || []);
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    xs.forEach((x, i) => {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) { pen = false; return; }
      pen ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y));
      pen = true;
    });
    ctx.stroke();
    ctx.restore();
    return { X, Y };
  }

  function labels(ctx, w, h, m, xr, yr) {
    ctx.fillStyle = C.text;
    ctx.font = "11px sans-serif";
    ctx.fillText(L.fmt(yr[1]), 2, m / 2 + 10);
    ctx.fillText(L.fmt(yr[0]), 2, h - m);
    ctx.fillText(L.fmt(xr[0]), m, h - m / 3);
    const t = L.fmt(xr[1]);
    ctx.fillText(t, w - m / 2 - ctx.measureText(t).width, h - m / 3);
  }

  function drawPlane2D(f) {
    const cv = $("plane"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height;
    const res = f.heat.res, vals = L.heatScale(f.heat.values, f.heat.meaning);
    const img = new ImageData(res, res);
    for (let row = 0; row < res; row++) {
      for (let col = 0; col < res; col++) {
        const [r, g, b] = L.heatColour(vals[row * res + col]);
        const k = ((res - 1 - row) * res + col) * 4;  // row 0 is the lowest y
        img.data.set([r, g, b, 255], k);
      }
    }
    const off = document.createElement("canvas");
    off.width = off.height = res;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, W, H);
    const X = (x) => ((x - f.lo[0]) / (f.hi[0] - f.lo[0])) * W;
    const Y = (y) => H - ((y - f.lo[1]) / (f.hi[1] - f.lo[1])) * H;
    const dots = (pts, colour) => {
      ctx.fillStyle = colour;
      for (let i = 0; i + 1 < pts.length; i += 2) ctx.fillRect(X(pts[i]) - 1.5, Y(pts[i + 1]) - 1.5, 3, 3);
    };
    dots(f.real, C.real);
    dots(f.fake, C.fake);
    if (f.arrows) {
      const p = f.arrows.points, v = f.arrows.push;
      let big = 0;
      for (let i = 0; i + 1 < v.length; i += 2) big = Math.max(big, Math.hypot(v[i], v[i + 1]));
      const scale = big > 0 ? (0.08 * W) / big : 0;
      ctx.strokeStyle = "#222";
      ctx.lineWidth = 1.2;
      for (let i = 0; i + 1 < p.length; i += 2) {
        const x0 = X(p[i]), y0 = Y(p[i + 1]), dx = v[i] * scale, dy = -v[i + 1] * scale;
        const len = Math.hypot(dx, dy);
        if (len < 1) continue;
        const a = Math.atan2(dy, dx);
        ctx.beginPath();
        ctx.moveTo(x0, y0);
        ctx.lineTo(x0 + dx, y0 + dy);
        ctx.lineTo(x0 + dx - 5 * Math.cos(a - 0.4), y0 + dy - 5 * Math.sin(a - 0.4));
        ctx.moveTo(x0 + dx, y0 + dy);
        ctx.lineTo(x0 + dx - 5 * Math.cos(a + 0.4), y0 + dy - 5 * Math.sin(a + 0.4));
        ctx.stroke();
      }
    }
    const what = f.heat.meaning === "probability" ? "D(x) = sigmoid(v): purple 0 (fake), white 1/2, green 1 (real)" : "the critic v(x) from its smallest (purple) to its largest value (green)";
    $("plane-caption").textContent = `real (green) and generated (purple) points over ${what}; arrows: where G's loss pushes each generated point`;
  }

  function drawPlane1D(f) {
    const cv = $("plane"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height, m = 36;
    const t = f.theory, xr = [f.lo[0], f.hi[0]];
    axes(ctx, W, H, m);
    const dens = L.range([t.p, t.q, t.real_hist, t.fake_hist], 0).map((v, i) => (i ? v * 1.05 : 0));
    const bins = t.real_hist.length, bw = (W - 1.5 * m) / bins;
    const bars = (hist, colour) => {
      ctx.fillStyle = colour;
      hist.forEach((v, i) => {
        const hgt = ((v || 0) / dens[1]) * (H - 1.5 * m);
        ctx.fillRect(m + i * bw, H - m - hgt, bw - 1, hgt);
      });
    };
    bars(t.real_hist, "rgba(30,132,73,0.25)");
    bars(t.fake_hist, "rgba(125,60,152,0.25)");
    line(ctx, t.xs, t.p, xr, dens, W, H, m, C.real);
    if (t.q) line(ctx, t.xs, t.q, xr, dens, W, H, m, C.fake, [6, 4]);
    const mass = t.p.map((v, i) => (v || 0) + (t.q ? t.q[i] || 0 : 0));
    const unit = t.curve_label.startsWith("D(x) = sigmoid") ? [-0.02, 1.02] : L.centralRange([t.curve, t.optimum], mass);
    line(ctx, t.xs, t.curve, xr, unit, W, H, m, "#111");
    if (t.optimum) line(ctx, t.xs, t.optimum, xr, unit, W, H, m, C.opt, [4, 3]);
    labels(ctx, W, H, m, xr, unit);
    const opt = t.optimum ? (t.curve_label.startsWith("T") ? ", red dashed: T* = f'(p/q)" : ", red dashed: D* = p/(p+q)") : " (its optimum needs Q's density: recipe critic or gaussian-fit)";
    $("plane-caption").textContent = `green: p and real samples; purple: ${t.q ? "q and " : ""}generated samples; black: ${t.curve_label}${opt}`;
  }

  function drawLosses(f) {
    const cv = $("losses"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height, m = 36;
    axes(ctx, W, H, m);
    const c = f.losses, xs = c.step || [];
    const keys = Object.keys(c).filter((k) => k !== "step");
    const yr = L.range(keys.map((k) => c[k]));
    const xr = [xs.length ? xs[0] : 0, xs.length ? xs[xs.length - 1] : 1];
    for (const k of keys) line(ctx, xs, c[k], xr, yr, W, H, m, k === "loss_d" ? C.d : k === "loss_g" ? C.g : "#999");
    labels(ctx, W, H, m, xr, yr);
  }

  function drawBound(f) {
    const t = f.theory;
    const show = !!(t && t.estimate !== null && t.estimate !== undefined);
    $("bound-figure").hidden = !show;
    if (!show) return;
    const cv = $("bound"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height, m = 36;
    axes(ctx, W, H, m);
    const e = t.estimates, xs = e.step;
    const xr = [xs[0], Math.max(xs[xs.length - 1], xs[0] + 1)];
    const yr = L.range([e.estimate, t.exact === null ? [] : [t.exact]]);
    if (t.exact !== null) line(ctx, xr, [t.exact, t.exact], xr, yr, W, H, m, C.opt, [6, 4]);
    line(ctx, xs, e.estimate, xr, yr, W, H, m, C.d);
    labels(ctx, W, H, m, xr, yr);
    $("bound-caption").textContent = `${t.divergence}: the critic's bound ${L.fmt(t.estimate)} (blue) rising to the exact ${L.fmt(t.exact)} (red dashed)`;
  }

  function drawMetrics(f) {
    const rows = Object.entries(f.metrics).map(([k, v]) => `<tr><th>${k}</th><td>${typeof v === "number" ? L.fmt(v) : v}</td></tr>`);
    const cfg = f.config;
    rows.push(`<tr><th>lr G / D</th><td>${L.fmt(cfg.lr_g)} / ${L.fmt(cfg.lr_d)}</td></tr>`);
    rows.push(`<tr><th>n_critic</th><td>${cfg.n_critic}</td></tr>`);
    rows.push(`<tr><th>penalties</th><td>${Object.entries(cfg.penalties).map(([k, v]) => `${k}=${v}`).join(", ") || "none"}</td></tr>`);
    $("metrics").innerHTML = rows.join("");
  }

  function draw() {
    const f = frame;
    if (!f) return;
    $("step").textContent = String(f.step);
    $("rate").textContent = f.training ? `${L.fmt(f.steps_per_s)} steps/s` : "";
    $("play").disabled = f.playing && !f.error;
    $("pause").disabled = !f.playing;
    const speed = String(f.speed);
    if (document.activeElement !== $("speed") && [...$("speed").options].some((o) => o.value === speed)) $("speed").value = speed;
    $("state-label").textContent = f.error ? "stopped" : f.training ? "training" : f.playing ? "waiting" : "paused";
    if (f.error) showMessage(f.error);
    if (f.dim === 2) drawPlane2D(f); else drawPlane1D(f);
    drawLosses(f);
    drawBound(f);
    drawMetrics(f);
  }

  loadOptions().then(listen).catch((e) => showMessage(`cannot load the lab's options: ${e.message}`));
})();
