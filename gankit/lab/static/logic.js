// The page's logic that is more than drawing: the form <-> settings mapping, the colour map,
// the value ranges of the plots. Pure functions, tested in a headless browser
// (tests/test_lab_browser.py); usable from node through module.exports as well.
(function (root) {
  "use strict";

  // Typical weights of the penalties when the weight field is blank (their papers' values).
  const PENALTY_WEIGHT = { gp: 10, "gp-one-sided": 10, dragan: 10, r1: 10, drift: 0.001 };
  const NUMBER_KEYS = new Set([
    "lr_g", "lr_d", "n_critic", "batch_size", "seed", "penalty_weight",
    "model_args.width", "recipe_args.pack", "recipe_args.minibatch_disc", "recipe_args.mbstd",
    "recipe_args.unroll_steps", "recipe_args.hist_avg_d",
  ]);

  // Form fields {name: string | boolean} -> the settings JSON the server resolves.
  // Blank fields and unticked boxes are left out (the defaults apply); "a.b" names go to
  // the option dict a (model_args, recipe_args); the penalty select and weight become
  // penalties: "" keeps the objective's default, "none" turns penalties off.
  function buildSettings(fields) {
    const out = {};
    for (const [name, raw] of Object.entries(fields)) {
      if (name === "penalty" || name === "penalty_weight") continue;
      if (raw === "" || raw === false || raw === null || raw === undefined) continue;
      let value = raw;
      if (NUMBER_KEYS.has(name) && typeof raw === "string") {
        const n = Number(raw.trim());
        value = raw.trim() !== "" && Number.isFinite(n) ? n : raw.trim();  // the server names a bad value
      }
      const dot = name.indexOf(".");
      if (dot > 0) {
        const group = name.slice(0, dot);
        out[group] = out[group] || {};
        out[group][name.slice(dot + 1)] = value;
      } else {
        out[name] = value;
      }
    }
    const penalty = fields.penalty || "";
    if (penalty === "none") {
      out.penalties = {};
    } else if (penalty !== "") {
      const w = String(fields.penalty_weight ?? "").trim();
      out.penalties = { [penalty]: w === "" ? (PENALTY_WEIGHT[penalty] ?? 1) : (Number.isFinite(Number(w)) ? Number(w) : w) };
    }
    return out;
  }

  // The inverse: settings -> {field name: value} to show in the form.
  function fieldsFromSettings(settings) {
    const fields = {};
    for (const [key, value] of Object.entries(settings || {})) {
      if (key === "penalties") {
        const names = Object.keys(value || {});
        fields.penalty = names.length ? names[0] : "none";
        fields.penalty_weight = names.length ? String(value[names[0]]) : "";
      } else if (value !== null && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) fields[`${key}.${k}`] = typeof v === "boolean" ? v : String(v);
      } else {
        fields[key] = typeof value === "boolean" ? value : String(value);
      }
    }
    if (!("penalty" in fields)) fields.penalty = "";
    return fields;
  }

  // D's value in [0, 1] -> RGB: purple where D says fake (0), white at 1/2, green where it
  // says real (1), the colours of the points themselves.
  function heatColour(v) {
    const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0.5));
    const fake = [142, 68, 173], mid = [250, 250, 250], real = [39, 174, 96];
    const [a, b, s] = t < 0.5 ? [fake, mid, t / 0.5] : [mid, real, (t - 0.5) / 0.5];
    return a.map((x, i) => Math.round(x + (b[i] - x) * s));
  }

  // The values shown in [0, 1]: probabilities as they are; a raw critic (defined up to an
  // offset, e.g. WGAN's) from its smallest (0) to its largest value (1) on the plane.
  function heatScale(values, meaning) {
    if (meaning === "probability") return values.map((v) => (v === null ? 0.5 : v));
    const [lo, hi] = range([values], 0);
    return values.map((v) => (v === null ? 0.5 : (v - lo) / (hi - lo)));
  }

  // [lo, hi] of the finite numbers of several lists, widened by pad of its span; [0, 1] if none.
  function range(lists, pad = 0.05) {
    let lo = Infinity, hi = -Infinity;
    for (const list of lists) for (const v of list || []) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (!Number.isFinite(lo)) return [0, 1];
    if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
    const p = (hi - lo) * pad;
    return [lo - p, hi + p];
  }

  // range() of the curves' values where the weight is at least frac of its largest value
  // (the optimal critic T* = f'(p/q) runs off to +-inf where p or q vanishes).
  function centralRange(curves, weights, frac = 0.01) {
    let top = 0;
    for (const w of weights) if (w !== null && w > top) top = w;
    const keep = (list) => (list || []).filter((_, i) => weights[i] !== null && weights[i] >= frac * top);
    return range(curves.map(keep));
  }

  // Short text of a number for labels.
  function fmt(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return "-";
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
    const s = v.toPrecision(4);
    return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
  }

  const api = { buildSettings, fieldsFromSettings, heatColour, heatScale, range, centralRange, fmt, PENALTY_WEIGHT };
  root.gankitLogic = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);
