"""``results.json`` of an arena: per run the outcome and curves, per objective the ranking.

Definitions (also in docs/arena.md):

- **diverged**: the worker stopped on a :class:`DivergenceError` (a loss or the weights became
  NaN/inf), or the last evaluation holds a non-finite loss or main metric.
- **collapsed** (only for data with a mode count, e.g. ``ring``, ``grid``, ``25gaussians``): not
  diverged, its samples on the data at the end (``hq_fraction >= 0.1``), and its final ``modes``
  below half of its best ``modes`` after step 0 (it had found modes and lost them). A run whose
  final ``hq_fraction`` is below 0.1 is **off-mode**: almost no sample lies near any mode, it has
  not converged enough to judge collapse, and ``collapsed`` is ``null`` with the reason in
  ``collapse_reason``. Step 0 is left out of the best: the untrained generator sits at the
  origin, on ``grid``'s centre mode. ``null`` for data without modes.
- **time to target**: the wall time and step of the first evaluation that meets the target:
  all modes covered (``modes == modes_total``) for mode data, or ``METRIC<=V`` / ``METRIC>=V``
  given with ``--target``; ``null`` if never met.
- **images per second**: images seen / wall time of the run (evaluation time included).
- **ranking**: objectives ordered by the median over seeds of the rank keys, lexicographically
  (``modes`` then ``hq_fraction`` for mode data, else the data's main metric; ``--rank-by
  METRIC`` replaces them with one logged metric, e.g. ``fid_inception``); a diverged run
  counts as the worst possible value; objectives with equal medians share a rank.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from gankit.arena.runner import SETTINGS_FILE, ArenaSpec, latest_step, read_status
from gankit.errors import ConfigError
from gankit.training.runfolder import MetricsLog

FORMAT = "gankit-arena-results"
VERSION = 1
# Metrics where larger is better; every other main metric (distances, FID, KL, JS) is lower-better.
HIGHER_IS_BETTER = {
    "modes",
    "hq_fraction",
    "a_coverage",
    "inception_score",
    "precision",
    "recall",
    "accuracy",
}
CURVE_SKIP = {"n_samples", "modes_total"}
COLLAPSE_DROP = 0.5
COLLAPSE_HQ = 0.1


def parse_target(text: str | None) -> tuple[str, str, float] | None:
    """``"fid_lenet<=10"`` -> ("fid_lenet", "<=", 10.0)."""
    if not text:
        return None
    for op in ("<=", ">="):
        if op in text:
            metric, _, value = text.partition(op)
            try:
                v = float(value)
            except ValueError:
                break
            if metric.strip() and math.isfinite(v):
                return metric.strip(), op, v
    raise ConfigError(f"--target {text!r}: expected METRIC<=VALUE or METRIC>=VALUE, e.g. fid_lenet<=10")


def is_finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def rank_keys(main: str | None, row: dict[str, Any], rank_by: str | None = None) -> list[str]:
    if rank_by:
        return [rank_by]
    if "modes" in row:
        return ["modes", "hq_fraction"]
    return [main] if main else []


def meets(row: dict[str, Any], target: tuple[str, str, float] | None) -> bool:
    if target is None:
        total = row.get("modes_total")
        return is_finite(row.get("modes")) and is_finite(total) and row["modes"] >= total
    metric, op, value = target
    v = row.get(metric)
    if not is_finite(v):
        return False
    return v <= value if op == "<=" else v >= value


def run_result(spec: ArenaSpec, loss: str, seed: int, target) -> dict[str, Any]:
    run_dir = spec.run_dir(loss, seed)
    status = read_status(run_dir)
    rows = MetricsLog(run_dir / "metrics.jsonl").read()
    final = rows[-1] if rows else {}
    main = status.get("main_metric") or ("modes" if "modes" in final else None)
    step = final.get("step", 0)
    state = status.get("status")
    if state is None:
        state = (
            "finished" if latest_step(run_dir) == spec.steps else ("missing" if not rows else "incomplete")
        )
    keys = rank_keys(main, final, spec.rank_by)
    nonfinite = [k for k in ("loss_d", "loss_g", *keys) if k in final and not is_finite(final[k])]
    diverged = state == "diverged" or bool(nonfinite)
    collapsed, reason, off_mode = None, None, False
    if "modes" in final and not diverged and rows:
        trained = [r["modes"] for r in rows if r.get("step", 0) > 0 and is_finite(r.get("modes"))]
        best = max(trained, default=0)
        hq = final.get("hq_fraction")
        if is_finite(hq) and hq < COLLAPSE_HQ:
            off_mode = True
            reason = f"hq_fraction {hq:.3f} < {COLLAPSE_HQ}: off-mode, too early to judge collapse"
        else:
            collapsed = False
            if is_finite(final.get("modes")) and final["modes"] < COLLAPSE_DROP * best:
                collapsed, reason = True, f"modes fell from {best} to {final['modes']}"
    hit = next((r for r in rows if meets(r, target)), None)
    wall = final.get("wall_s")
    images = final.get("images_seen", 0)
    curve = [
        {k: v for k, v in r.items() if k not in CURVE_SKIP and (is_finite(v) or v is None)} for r in rows
    ]
    return {
        "loss": loss,
        "seed": seed,
        "name": spec.run_name(loss, seed),
        "run_dir": str(Path("runs") / spec.run_name(loss, seed)),
        "status": state,
        "error": status.get("error"),
        "main_metric": main,
        "steps_done": step,
        "images_seen": images,
        "wall_s": wall,
        "images_per_s": round(images / wall, 1) if is_finite(wall) and wall > 0 else None,
        "final": {k: v for k, v in final.items() if k not in ("step", "images_seen", "wall_s")},
        "diverged": diverged,
        "collapsed": collapsed,
        "off_mode": off_mode,
        "collapse_reason": reason,
        "time_to_target_s": hit["wall_s"] if hit else None,
        "steps_to_target": hit["step"] if hit else None,
        "curve": curve,
    }


def _worst(metric: str) -> float:
    return -math.inf if metric in HIGHER_IS_BETTER else math.inf


def _value(run: dict[str, Any], metric: str) -> float | None:
    """The run's final ``metric`` for ranking; worst possible if diverged; None if not run."""
    if run["diverged"]:
        return _worst(metric)
    v = run["final"].get(metric)
    return float(v) if is_finite(v) else None


def _json_num(v: float | None) -> float | None:
    return v if v is None or math.isfinite(v) else None


def ranking(runs: list[dict[str, Any]], losses: list[str], keys: list[str]) -> list[dict[str, Any]]:
    """Per objective: median and spread over seeds of each rank key; sorted best first."""
    table = []
    for loss in losses:
        mine = [r for r in runs if r["loss"] == loss and r["status"] not in ("missing", "error")]
        entry: dict[str, Any] = {
            "loss": loss,
            "n_runs": len(mine),
            "median": {},
            "min": {},
            "max": {},
            "std": {},
        }
        for k in keys:
            vals = [v for v in (_value(r, k) for r in mine) if v is not None]
            if vals:
                entry["median"][k] = statistics.median(vals)
                entry["min"][k], entry["max"][k] = min(vals), max(vals)
                finite = [v for v in vals if math.isfinite(v)]
                entry["std"][k] = statistics.pstdev(finite) if len(finite) == len(vals) else None
            else:
                entry["median"][k] = entry["min"][k] = entry["max"][k] = entry["std"][k] = None
        entry["diverged"] = sum(r["diverged"] for r in mine)
        entry["collapsed"] = sum(bool(r["collapsed"]) for r in mine)
        entry["off_mode"] = sum(bool(r.get("off_mode")) for r in mine)
        ttt = [r["time_to_target_s"] for r in mine]
        entry["reached_target"] = sum(t is not None for t in ttt)
        # median over seeds, a seed that never reached the target counting as infinitely slow
        med = statistics.median([t if t is not None else math.inf for t in ttt]) if ttt else None
        entry["median_time_to_target_s"] = _json_num(med)
        ips = [r["images_per_s"] for r in mine if r["images_per_s"] is not None]
        entry["median_images_per_s"] = statistics.median(ips) if ips else None
        table.append(entry)

    def sort_key(e):
        out = []
        for k in keys:
            m = e["median"][k]
            if m is None:
                m = _worst(k)
            out.append(-m if k in HIGHER_IS_BETTER else m)
        return out

    table.sort(key=sort_key)
    prev, rank = None, 0
    for i, e in enumerate(table, 1):
        key = sort_key(e)
        if key != prev:
            rank, prev = i, key
        e["rank"] = rank
        for part in ("median", "min", "max"):
            e[part] = {k: _json_num(v) for k, v in e[part].items()}
    return table


def collect(spec: ArenaSpec, target: tuple[str, str, float] | None = None) -> dict[str, Any]:
    """Read every run folder of the arena into the results dict."""
    runs = [run_result(spec, loss, seed, target) for loss in spec.losses for seed in spec.seeds]
    mains = [r["main_metric"] for r in runs if r["main_metric"]]
    main = mains[0] if mains else None
    sample = next((r["final"] for r in runs if r["final"]), {})
    keys = rank_keys(main, sample, spec.rank_by)
    if target is None:
        target_desc = (
            {"metric": "modes", "op": ">=", "value": "modes_total", "description": "all modes covered"}
            if "modes" in sample
            else None
        )
    else:
        target_desc = {
            "metric": target[0],
            "op": target[1],
            "value": target[2],
            "description": f"{target[0]} {target[1]} {target[2]:g}",
        }
    try:
        settings = json.loads((Path(spec.out) / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        settings = {}
    return {
        "format": FORMAT,
        "version": VERSION,
        "data": spec.data,
        "model": spec.model,
        "losses": list(spec.losses),
        "seeds": list(spec.seeds),
        "steps": spec.steps,
        "budget_s": spec.budget_s,
        "device": spec.device,
        "sets": list(settings.get("sets", spec.sets)),
        "main_metric": main,
        "rank_by": keys,
        "higher_is_better": {k: k in HIGHER_IS_BETTER for k in keys},
        "target": target_desc,
        "runs": runs,
        "ranking": ranking(runs, spec.losses, keys),
    }


def write_json(path: Path, obj: Any) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    return path
