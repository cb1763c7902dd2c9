"""``report.html`` (one self-contained file: PNGs as data URIs, inline CSS, no scripts) and
``summary.png`` (curves and ranking) from an arena's results dict."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

THUMB_PX = 360
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
color:#1d1d1f;background:#fff;line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:.92em}
table{border-collapse:collapse;margin:12px 0}th,td{padding:5px 10px;white-space:nowrap;border-bottom:1px solid #e4e4e4;text-align:right}
th{white-space:normal;background:#f4f4f6;position:sticky;top:0}td.l,th.l{text-align:left}
tr:hover td{background:#fafafc}.bad{color:#b00020;font-weight:600}.ok{color:#16723a}.warn{color:#8a5a00}
.samples td{vertical-align:top;text-align:center;font-size:.85em}
.samples img{width:260px;height:auto;border:1px solid #ddd;border-radius:4px}
img.fig{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:.82em;border-radius:4px}
details{margin:4px 0}summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace}
.note{font-size:.9em;color:#444;max-width:900px}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:.{digits}g}"
    return str(v)


def fmt_rate(v: Any) -> str:
    """A rate as a whole number with thousands separators (18,360), "-" when missing."""
    return "-" if v is None or not math.isfinite(v) else f"{v:,.0f}"


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def thumbnail(path: Path, px: int = THUMB_PX) -> bytes | None:
    """A PNG of at most ``px`` pixels on its long side, or None if the file is missing or bad."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((px, px))
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            return buf.getvalue()
    except (OSError, ValueError):
        return None


def _colors(losses: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab20" if len(losses) > 10 else "tab10")
    return {loss: cmap(i % cmap.N) for i, loss in enumerate(losses)}


def curves_figure(results: dict[str, Any], metric: str) -> bytes | None:
    """One panel per objective: ``metric`` against wall time, one line per seed."""
    losses = [e["loss"] for e in results["ranking"]]
    if not losses:
        return None
    colors = _colors(results["losses"])
    cols = min(4, len(losses))
    rows = math.ceil(len(losses) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False, sharey=True)
    for ax, loss in zip(axes.flat, losses, strict=False):
        for run in results["runs"]:
            if run["loss"] != loss:
                continue
            pts = [(p["wall_s"], p[metric]) for p in after_step_0(run["curve"]) if p.get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=".", ms=3, lw=1, color=colors[loss], alpha=0.85)
        ax.set_title(loss, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(losses) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel(metric, fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("wall time (s)", fontsize=8)
    fig.tight_layout()
    return fig_png(fig)


def after_step_0(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluations after step 0. The untrained generator's values are no baseline to read a
    curve against: on ``grid`` it sits on the centre mode, so its hq_fraction is near 1 and the
    curve would seem to fall as training spreads the samples out. They stay in results.json."""
    later = [p for p in curve if p.get("step", 0) > 0]
    return later or curve


def median_curve(runs: list[dict[str, Any]], metric: str) -> list[tuple[float, float]]:
    """Median over seeds at each evaluated step, at the seeds' median wall time."""
    by_step: dict[int, list[tuple[float, float]]] = {}
    for run in runs:
        for p in after_step_0(run["curve"]):
            if p.get(metric) is not None and p.get("wall_s") is not None:
                by_step.setdefault(p["step"], []).append((p["wall_s"], p[metric]))
    return [
        (statistics.median(w for w, _ in pts), statistics.median(v for _, v in pts))
        for _, pts in sorted(by_step.items())
    ]


def _flags(e: dict[str, Any]) -> str:
    tags = [f"{e[k]} {k.replace('_', '-')}" for k in ("diverged", "collapsed", "off_mode") if e.get(k)]
    return f" ({', '.join(tags)} of {e['n_runs']})" if tags else ""


def summary_figure(results: dict[str, Any]) -> bytes:
    """Left: median curve per objective; right: ranking bars (median, min-max whiskers)."""
    keys = results["rank_by"]
    metric = keys[0] if keys else None
    colors = _colors(results["losses"])
    ranked = results["ranking"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, max(3.5, 0.38 * len(ranked) + 1.5)))
    if metric:
        for e in ranked:
            pts = median_curve([r for r in results["runs"] if r["loss"] == e["loss"]], metric)
            if pts:
                a.plot(*zip(*pts, strict=True), marker=".", lw=1.3, color=colors[e["loss"]], label=e["loss"])
        a.set_xlabel("wall time (s)")
        a.set_ylabel(f"{metric} (median over seeds)")
        a.grid(alpha=0.3)
        if ranked:
            a.legend(fontsize=7, ncol=2)
        names = [f"{e['rank']}. {e['loss']}{_flags(e)}" for e in ranked][::-1]
        med = [e["median"].get(metric) for e in ranked][::-1]
        lo = [e["min"].get(metric) for e in ranked][::-1]
        hi = [e["max"].get(metric) for e in ranked][::-1]
        y = range(len(names))
        vals = [m if m is not None else 0.0 for m in med]
        err = [
            [max(0.0, v - (lv if lv is not None else v)) for v, lv in zip(vals, lo, strict=True)],
            [max(0.0, (hv if hv is not None else v) - v) for v, hv in zip(vals, hi, strict=True)],
        ]
        b.barh(list(y), vals, xerr=err, color=[colors[e["loss"]] for e in ranked][::-1], capsize=3)
        b.set_yticks(list(y))
        b.set_yticklabels(names, fontsize=8)
        b.set_xlabel(f"final {metric}: median, whiskers min-max over seeds")
    fig.suptitle(
        f"gankit arena: {results['data']} / {results['model']}, {results['steps']} steps, "
        f"{len(results['seeds'])} seed(s)"
    )
    fig.tight_layout()
    return fig_png(fig)


def _ranking_table(results: dict[str, Any]) -> str:
    keys = results["rank_by"]
    n = len(results["seeds"])
    head = "".join(f"<th>{esc(k)} median</th><th>{esc(k)} min-max</th>" for k in keys)
    out = [
        f"<table><tr><th>rank</th><th class=l>objective</th>{head}<th>reached target</th>"
        "<th>median time to target (s)</th><th>images/s</th><th>diverged</th><th>collapsed</th>"
        "<th>off-mode</th></tr>"
    ]
    for e in results["ranking"]:
        cells = "".join(
            f"<td>{esc(fmt(e['median'].get(k)))}</td>"
            f"<td>{esc(fmt(e['min'].get(k)))} - {esc(fmt(e['max'].get(k)))}</td>"
            for k in keys
        )
        div = f"<span class=bad>{e['diverged']}</span>" if e["diverged"] else "0"
        col = f"<span class=bad>{e['collapsed']}</span>" if e["collapsed"] else "0"
        out.append(
            f"<tr><td>{e['rank']}</td><td class=l>{esc(e['loss'])}</td>{cells}"
            f"<td>{e['reached_target']}/{e['n_runs']}</td><td>{esc(fmt(e['median_time_to_target_s']))}</td>"
            f"<td>{esc(fmt_rate(e['median_images_per_s']))}</td><td>{div}/{n}</td><td>{col}/{n}</td>"
            f"<td>{e.get('off_mode', 0)}/{n}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _run_caption(run: dict[str, Any], keys: list[str]) -> str:
    parts = [f"{esc(k)} {esc(fmt(run['final'].get(k)))}" for k in keys]
    state = run["status"]
    cls = "ok" if state == "finished" and not run["diverged"] and not run["collapsed"] else "bad"
    if cls == "ok" and run.get("off_mode"):
        cls = "warn"
    flags = [state]
    if run["diverged"] and state != "diverged":
        flags.append("diverged")
    if run["collapsed"]:
        flags.append("collapsed")
    if run.get("off_mode"):  # not converged: said plainly, not flagged as a failure
        flags.append("off-mode, too early to judge collapse")
    return (
        f"<div><b>seed {esc(run['seed'])}</b> &middot; <span class={cls}>{esc(', '.join(flags))}</span>"
        f"<br>{', '.join(parts)}<br>step {esc(run['steps_done'])}, {esc(fmt(run['wall_s']))} s</div>"
    )


def _samples_table(results: dict[str, Any], out: Path) -> str:
    keys = results["rank_by"]
    by_loss: dict[str, list] = {}
    for run in results["runs"]:
        by_loss.setdefault(run["loss"], []).append(run)
    rows = ["<table class=samples>"]
    for e in results["ranking"]:
        cells = []
        for run in by_loss.get(e["loss"], []):
            data = thumbnail(out / run["run_dir"] / "pictures" / "latest.png")
            img = (
                f'<img alt="{esc(run["name"])} samples" src="{png_uri(data)}">'
                if data
                else "<div class=bad>no picture</div>"
            )
            cells.append(f'<td id="run-{esc(run["name"])}">{img}{_run_caption(run, keys)}</td>')
        rows.append(f"<tr><td class=l><b>{esc(e['rank'])}. {esc(e['loss'])}</b></td>{''.join(cells)}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _configs(results: dict[str, Any], out: Path) -> str:
    parts = []
    for run in results["runs"]:
        path = out / run["run_dir"] / "config.json"
        try:
            text = json.dumps(json.loads(path.read_text()), indent=2)
        except (OSError, ValueError):
            text = "(config.json missing)"
        cmd = f"gankit train --config {run['run_dir']}/config.json --out NEW_FOLDER"
        err = f"<p class=bad>{esc(run['error'])}</p>" if run.get("error") else ""
        parts.append(
            f"<details><summary>{esc(run['name'])} ({esc(run['status'])})</summary>{err}"
            f"<p>Reproduce: <code>{esc(cmd)}</code></p><pre>{esc(text)}</pre></details>"
        )
    return "\n".join(parts)


def render_html(results: dict[str, Any], out: Path, summary_png: bytes) -> str:
    out = Path(out)
    keys = results["rank_by"]
    target = results.get("target") or {}
    curves = [(k, curves_figure(results, k)) for k in keys]
    sets = " ".join(f"--set {s}" for s in results.get("sets", []))
    budget = f"{results['budget_s']:g} s per run" if results.get("budget_s") else "none"
    figs = "\n".join(
        f'<h3>{esc(k)} against wall time</h3><img class=fig alt="{esc(k)} curves" src="{png_uri(png)}">'
        for k, png in curves
        if png
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gankit arena: {esc(results["data"])} / {esc(results["model"])}</title>
<style>{CSS}</style></head><body>
<h1>gankit arena: {esc(results["data"])} / {esc(results["model"])}</h1>
<p class=meta>{len(results["losses"])} objectives &times; {len(results["seeds"])} seeds,
{esc(results["steps"])} steps each, wall-clock budget: {esc(budget)}; {esc(sets)}<br>
written {esc(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>
<h2>Ranking</h2>
<p class=note>Ordered by the median over seeds of {esc(", ".join(keys) or "nothing")} (then the next key).
Target: {esc(target.get("description", "none"))}. A diverged run (NaN/inf) counts as the worst value.
Collapsed: samples on the data at the end (hq_fraction &ge; 0.1) yet fewer than half of the modes
the run had found after step 0. Off-mode: hq_fraction &lt; 0.1 at the end, almost no sample near
any mode; such a run has not converged enough to judge collapse (common in short runs).
Images/s include evaluation time. Curves start after step 0 (the untrained generator; on grid it
sits on the centre mode, with hq_fraction near 1); its values are in results.json.</p>
{_ranking_table(results)}
<img class=fig alt="summary" src="{png_uri(summary_png)}">
<h2>Curves</h2>
{figs}
<h2>Final samples</h2>
<p class=note>Each run's last picture: real data (black), generated samples (orange) over the
discriminator's output where the data is 2-D.</p>
{_samples_table(results, out)}
<h2>Configs to reproduce each run</h2>
{_configs(results, out)}
</body></html>
"""


def write_report(results: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``OUT/summary.png`` and ``OUT/report.html``; returns their paths."""
    out = Path(out)
    summary = summary_figure(results)
    png_path = out / "summary.png"
    tmp = out / ".summary.png.tmp"
    tmp.write_bytes(summary)
    tmp.replace(png_path)
    html_path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(render_html(results, out, summary), encoding="utf-8")
    tmp.replace(html_path)
    return html_path, png_path
