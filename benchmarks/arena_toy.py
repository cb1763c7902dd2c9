"""The toy-data arena behind README's tables: every objective on ``ring``, ``grid`` and
``25gaussians``, 5 seeds, a step budget per run (with a wall-clock cap), then one markdown table
per dataset beside the published numbers (benchmarks/arena_tables.py).

    python benchmarks/arena_toy.py --out OUT                        # full: 3 datasets, all objectives, 5 seeds
    python benchmarks/arena_toy.py --data ring --losses ns,lsgan --seeds 1 --steps 200 --out OUT   # tiny

Writes OUT/<data>/ (an arena folder: results.json, report.html, summary.png, runs/) and
OUT/arena_toy.md. Rerunning the same command resumes (finished runs are not repeated).
``--cpus 0-12`` pins this process and its workers to those CPUs (Linux), so a GPU arena can use
the others (benchmarks/arena_mnist.py); ``--jobs`` workers share them, one thread each when
jobs equals the CPU count. The screenshot of each report is taken only when Chromium is found.

Budget (measured here, one thread, CPU time per generator step at batch 256, MLP 256x3):
single-update objectives 8-18 ms, wgan 40 ms, wgan-gp about 65 ms (five critic updates each, the
penalty's double backward); a run's folder and each evaluation with its pictures add about 0.25 s,
about 1.8 s per run. Over 14 objectives that is about 0.25 s per step for one dataset and seed, so
3 datasets x 5 seeds x 800 steps plus overheads is about 3,350 CPU-seconds: about 5 minutes of
wall time on 13 cores (the defaults), each arena starting its pool and writing its report included.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import arena_tables  # noqa: E402

# Relative cost of one step (five critic updates for the Wasserstein objectives). The pool runs
# the most expensive runs first, so the cheap ones fill the cores at the end instead of leaving
# the slow ones alone in the last minute (longest-processing-time-first scheduling).
STEP_COST = {"wgan-gp": 6.0, "wgan": 3.5}


def parse_cpus(text: str) -> set[int]:
    """``"0-12"`` or ``"0,2,4-6"`` -> a set of CPU numbers."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def pin_cpus(text: str) -> None:
    """Pin this process (and the workers it spawns) to the CPUs in ``text`` that exist here."""
    if not text:
        return
    have = os.sched_getaffinity(0)
    cpus = parse_cpus(text) & have
    if not cpus:
        print(f"--cpus {text}: none of these CPUs is available ({sorted(have)}); not pinning", flush=True)
        return
    os.sched_setaffinity(0, cpus)


def common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs", type=int, default=0, help="runs at once (default: the CPUs this process may use)"
    )
    p.add_argument("--cpus", default="", help="pin to these CPUs, e.g. 0-12 (Linux; default: all)")
    p.add_argument("--set", action="append", default=[], help="extra config for every run (KEY=VALUE)")
    p.add_argument("--no-screenshot", action="store_true", help="skip the Chromium screenshots")
    p.add_argument(
        "--collect-only",
        action="store_true",
        help="train nothing: rewrite results.json and the reports from the run folders as they are "
        "(after an interrupted arena; unfinished runs show as incomplete or missing)",
    )


def run_datasets(args, datasets, model, sets, target, title, md_name, device) -> list[dict]:
    """One arena per dataset (in turn, each with the whole pool), then the markdown file."""
    from gankit.arena import ArenaSpec, arena, collect, parse_losses, parse_target, write_json, write_report
    from gankit.arena.browser import find_browser, screenshot
    from gankit.arena.runner import check_configs

    pin_cpus(args.cpus)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    losses = sorted(parse_losses(args.losses), key=lambda n: -STEP_COST.get(n, 1.0))
    md = [
        f"# {title} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"`{' '.join(sys.argv)}`",
        "",
    ]
    all_results = []
    for data in datasets:
        t0 = time.time()
        spec = ArenaSpec(
            data=data,
            losses=list(losses),
            seeds=list(range(args.seeds)),
            steps=args.steps,
            out=str(out / data),
            model=model,
            budget_s=args.budget_s,
            jobs=args.jobs,
            sets=[*sets, *args.set],
            evals=args.evals,
            device=device,
        )
        if args.collect_only:
            spec.losses = check_configs(spec, drop_unfit=args.losses == "all", log=lambda s: None)
            results = collect(spec, parse_target(target))
            write_json(out / data / "results.json", results)
            write_report(results, spec.out)
        else:
            results = arena(spec, target=target, drop_unfit=args.losses == "all")
        all_results.append(results)
        md += arena_tables.dataset_section(results)
        if args.collect_only:
            run_s = sum(r["wall_s"] or 0 for r in results["runs"])
            md += [
                f"Collected from the run folders (nothing trained); the runs' own wall times sum to {run_s:.0f} s.",
                "",
            ]
        else:
            md += [f"Wall time of this arena: {time.time() - t0:.0f} s.", ""]
        if find_browser() and not args.no_screenshot:
            try:
                md += [
                    "",
                    f"Screenshot: {screenshot(out / data / 'report.html', out / f'{data}-report.png')}",
                    "",
                ]
            except Exception as e:  # the screenshot is a nicety; the tables are the result
                md += ["", f"(no screenshot: {type(e).__name__}: {e})", ""]
        (out / md_name).write_text("\n".join(md) + "\n")
        print(f"{data}: done in {time.time() - t0:.0f} s", flush=True)
    md += ["**What it teaches.** " + " ".join(arena_tables.teaches(all_results)), ""]
    (out / md_name).write_text("\n".join(md) + "\n")
    print(f"wrote {out / md_name}")
    return all_results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ring,grid,25gaussians")
    p.add_argument("--losses", default="all")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--budget-s", type=float, default=90.0, help="wall-clock cap per run (0: none)")
    p.add_argument("--evals", type=int, default=4, help="evaluations per run after step 0")
    p.add_argument("--device", default="cpu", help="device of every run (default cpu)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "arena-toy"))
    common_args(p)
    args = p.parse_args(argv)
    run_datasets(
        args,
        datasets=args.data.split(","),
        model="mlp",
        sets=["n_eval=2500"],
        target=None,
        title="Toy arena",
        md_name="arena_toy.md",
        device=args.device,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
