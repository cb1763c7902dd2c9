"""Markdown for README from arena ``results.json`` files: one ranking table per dataset beside
the published numbers for the same setup, and a short "what it teaches" paragraph whose numbers
are computed from the results (read it before merging: the sentences state facts, not causes).

    python benchmarks/arena_tables.py OUT/toy/ring OUT/toy/grid OUT/toy/25gaussians OUT/mnist > section.md

Each argument is an arena folder (holding results.json) or a results.json file. Used by
benchmarks/arena_toy.py and benchmarks/arena_mnist.py for their own markdown too.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

# Published results for the same mixtures (their own networks, budgets and hyperparameters;
# 2,500 samples, a sample is "high quality" within 3 standard deviations of a mode).
# PacGAN (Lin et al. 2018), 2D-grid table: modes / high-quality samples.
# VEEGAN (Srivastava et al. 2017), Table 1: unrolled GAN modes.
PUBLISHED_TOY = {
    "grid": [
        ("GAN (PacGAN)", "17.3", "94.8%"),
        ("PacGAN4 (PacGAN)", "24.8", "93.6%"),
        ("Unrolled GAN (VEEGAN Table 1)", "23.6", "-"),
    ],
    "ring": [
        ("Unrolled GAN (VEEGAN Table 1)", "7.6", "-"),
    ],
}
# Lucic et al. 2018, "Are GANs Created Equal?", Table 2: best FID (mean +- std over the best runs)
# on MNIST after a 100-setting hyperparameter search per model; Inception features, 10,000
# samples. Keyed by gankit objective; DRAGAN (a penalty here) and the VAE are left out.
PUBLISHED_MNIST = {
    "minimax": "9.8 ± 0.9",
    "ns": "6.8 ± 0.5",
    "lsgan": "7.8 ± 0.6",
    "wgan": "6.7 ± 0.4",
    "wgan-gp": "20.3 ± 5.0",
    "began": "13.1 ± 1.0",
}
MODE_DATA = ("ring", "grid", "25gaussians", "8gaussians")


def load(path: str | Path) -> dict:
    p = Path(path)
    return json.loads((p / "results.json" if p.is_dir() else p).read_text())


def _num(v, fmt="{:g}"):
    return "-" if v is None else fmt.format(v)


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}"


def _spread(e: dict, key: str, show=_num) -> str:
    """``median (min-max)`` of a ranking entry's ``key``."""
    return f"{show(e['median'].get(key))} ({show(e['min'].get(key))}-{show(e['max'].get(key))})"


def _tail(results: dict, e: dict) -> str:
    """The columns every table ends with: time to target, steps done, img/s, diverged."""
    return (
        f"| {_num(e['median_time_to_target_s'], '{:.1f}')} | {_steps(results, e['loss'])} "
        f"| {_num(e['median_images_per_s'], '{:.0f}')} | {e['diverged']}/{e['n_runs']} |"
    )


def _runs_of(results: dict, loss: str) -> list[dict]:
    return [r for r in results["runs"] if r["loss"] == loss]


def _steps(results: dict, loss: str) -> str:
    done = [r["steps_done"] for r in _runs_of(results, loss) if r.get("final")]
    return f"{min(done)}-{max(done)}" if done else "-"


def _budget_hits(results: dict, loss: str) -> int:
    return sum(r["status"] == "budget" for r in _runs_of(results, loss))


def toy_table(results: dict) -> list[str]:
    """Ranking table for data with modes (ring, grid, 25gaussians)."""
    lines = [
        "| rank | objective | modes median (min-max) | hq % median (min-max) | all modes reached "
        "| median time to all modes (s) | steps done | img/s | diverged | lost modes | off-mode |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in results["ranking"]:
        # the arena's "collapsed" has two causes: modes fell below half the run's best, or
        # almost no sample near any mode (hq < 10%: diffuse or off the data); counted apart
        reasons = [r.get("collapse_reason") or "" for r in _runs_of(results, e["loss"])]
        n = e["n_runs"]  # objectives kept from an earlier arena may have fewer seeds
        lost = sum(x.startswith("modes fell") for x in reasons)
        off = sum(x.startswith("hq_fraction") for x in reasons)
        lines.append(
            f"| {e['rank']} | {e['loss']} | {_spread(e, 'modes')} | {_spread(e, 'hq_fraction', _pct)} "
            f"| {e['reached_target']}/{e['n_runs']} {_tail(results, e)} {lost}/{n} | {off}/{n} |"
        )
    return lines


def image_table(results: dict) -> list[str]:
    """Ranking table for image data ranked by its main metric (fid_lenet), with Lucic et al."""
    key = results["rank_by"][0] if results["rank_by"] else results["main_metric"]
    target = (results.get("target") or {}).get("description", "target")
    lines = [
        f"| rank | objective | {key} median (min-max) | Lucic et al. FID (Inception) | reached {target} "
        "| median time to target (s) | steps done | img/s | diverged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in results["ranking"]:
        lines.append(
            f"| {e['rank']} | {e['loss']} | {_spread(e, key, lambda v: _num(v, '{:.1f}'))} "
            f"| {PUBLISHED_MNIST.get(e['loss'], '-')} | {e['reached_target']}/{e['n_runs']} {_tail(results, e)}"
        )
    return lines


def published_toy(data: str) -> list[str]:
    if data not in PUBLISHED_TOY:
        return []
    rows = [f"| {a} | {b} | {c} |" for a, b, c in PUBLISHED_TOY[data]]
    return [
        "",
        "Published on the same mixture (their networks, budgets and tuning; 2,500 samples, 3-std rule):",
        "",
        "| method | modes | hq samples |",
        "|---|---|---|",
        *rows,
    ]


def setup_line(results: dict) -> str:
    sets = ", ".join(f"`{s}`" for s in results.get("sets", [])) or "defaults"
    budget = f" or {results['budget_s']:g} s" if results.get("budget_s") else ""
    seeds = {e["loss"]: e["n_runs"] for e in results.get("ranking", [])}
    fewer = sorted((n, loss) for loss, n in seeds.items() if n < len(results["seeds"]))
    kept = (
        f" (with fewer runs, kept from an earlier arena or missing: {', '.join(f'{loss} {n}' for n, loss in fewer)})"
        if fewer
        else ""
    )
    return (
        f"{len(results['losses'])} objectives x {len(results['seeds'])} seeds{kept}, model `{results['model']}`, "
        f"{results['steps']:,} steps{budget} per run, device `{results.get('device', 'auto')}`; {sets}."
    )


def dataset_section(results: dict) -> list[str]:
    data = results["data"]
    out = [f"#### {data}", "", setup_line(results), ""]
    if data in MODE_DATA:
        out += toy_table(results) + published_toy(data)
    else:
        out += image_table(results)
    return out + [""]


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def teaches(all_results: list[dict]) -> list[str]:
    """Sentences whose numbers come from the results; the lead reads and edits them."""
    toy = [r for r in all_results if r["data"] in MODE_DATA]
    img = [r for r in all_results if r["data"] not in MODE_DATA]
    out = []
    if toy:
        best = []
        for r in toy:
            e = r["ranking"][0]
            total = next((x["final"].get("modes_total") for x in r["runs"] if x.get("final")), None)
            best.append(
                f"{e['loss']} on {r['data']} ({_num(e['median']['modes'])}/{_num(total)} modes, "
                f"{_pct(e['median']['hq_fraction'])} % high quality)"
            )
        out.append("Best median by the arena's rule: " + "; ".join(best) + ".")
        losses = sorted({e["loss"] for r in toy for e in r["ranking"]})
        n_runs = {x: sum(e["n_runs"] for r in toy for e in r["ranking"] if e["loss"] == x) for x in losses}
        bad = {
            x: sum(e["collapsed"] + e["diverged"] for r in toy for e in r["ranking"] if e["loss"] == x)
            for x in losses
        }
        worst = [x for x in sorted(losses, key=lambda x: -bad[x] / max(n_runs[x], 1)) if bad[x]][:3]
        steady = [x for x in losses if bad[x] == 0]
        if worst:
            out.append(
                "Collapsed or diverged most often over the toy arenas: "
                + ", ".join(f"{x} ({bad[x]}/{n_runs[x]} runs)" for x in worst)
                + "; never: "
                + (", ".join(steady) if steady else "none")
                + "."
            )
        else:
            out.append("No toy run collapsed or diverged.")
        ips = {
            x: _median([e["median_images_per_s"] for r in toy for e in r["ranking"] if e["loss"] == x])
            for x in losses
        }
        known = sorted((x for x in losses if ips[x]), key=lambda x: ips[x])
        if len(known) >= 2:
            slow, fast = known[0], known[-1]
            out.append(
                f"Per image, {slow} is the slowest ({ips[slow]:.0f} img/s, median) and {fast} the fastest "
                f"({ips[fast]:.0f} img/s): {ips[fast] / ips[slow]:.1f}x, so under a wall-clock budget the cost "
                "of each step matters as much as the objective."
            )
        pub = []
        for r in toy:
            if r["data"] in PUBLISHED_TOY:
                e = r["ranking"][0]
                refs = ", ".join(f"{a} {b}" for a, b, _ in PUBLISHED_TOY[r["data"]])
                pub.append(
                    f"{r['data']}: ours {_num(e['median']['modes'])} modes after {r['steps']:,} steps vs {refs}"
                )
        if pub:
            out.append(
                "Against the published mode counts (longer training, tuned networks): " + "; ".join(pub) + "."
            )
    for r in img:
        key = r["rank_by"][0] if r["rank_by"] else r["main_metric"]
        order = ", ".join(
            f"{e['loss']} {_num(e['median'].get(key), '{:.1f}')}"
            + (f" ({e['n_runs']} of them)" if e["n_runs"] < len(r["seeds"]) else "")
            for e in r["ranking"]
        )
        theirs = ", ".join(f"{k} {v.split(' ')[0]}" for k, v in PUBLISHED_MNIST.items() if k in r["losses"])
        out.append(
            f"On {r['data']} (median {key} over {len(r['seeds'])} seeds, {r['budget_s']:g} s per run): {order}. "
            f"Lucic et al. report best FIDs {theirs} after a large hyperparameter search; their FID uses "
            f"Inception features and 10,000 samples, ours a LeNet trained on MNIST (fid_lenet) and "
            f"{r['runs'][0]['final'].get('n_fake', '?') if r['runs'] and r['runs'][0].get('final') else '?'} "
            "samples, so compare the order, not the values."
        )
    return out


def section(all_results: list[dict]) -> str:
    lines = ["### The arena on the published setups (measured)", ""]
    for r in all_results:
        lines += dataset_section(r)
    lines += ["**What it teaches.** " + " ".join(teaches(all_results)), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    paths = (argv if argv is not None else sys.argv[1:]) or []
    if not paths:
        print(__doc__)
        return 2
    print(section([load(p) for p in paths]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
