"""``gankit arena``: every objective on the same data and budget, ranked in one report."""

from __future__ import annotations

import os

from gankit.cli import command
from gankit.errors import ConfigError


@command("arena", help="train every objective on the same data and budget; rank them in report.html")
def configure(p):
    p.add_argument("--data", required=True, help="dataset name, e.g. ring, grid, 25gaussians")
    p.add_argument("--losses", default="all", help="comma-separated objectives, or all (default)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds per objective: 0..N-1 (default 3)")
    p.add_argument("--steps", type=int, required=True, help="generator steps per run")
    p.add_argument("--model", default="mlp", help="model family for every run (default mlp)")
    p.add_argument("--budget-s", type=float, default=0.0, help="wall-clock seconds per run; 0: none")
    p.add_argument(
        "--out", default=None, help="arena folder (default runs/arena-DATA-MODEL); rerun to resume"
    )
    p.add_argument("--jobs", type=int, default=0, help="runs at once (default: the CPU count)")
    p.add_argument(
        "--device", default="auto", help="device of every run: auto (default), cpu, cuda or cuda:N"
    )
    p.add_argument("--evals", type=int, default=10, help="evaluations per run unless --set eval_every=N")
    p.add_argument(
        "--target",
        default=None,
        metavar="METRIC<=V",
        help="time-to-target threshold, e.g. fid_lenet<=10 (default for mode data: all modes)",
    )
    p.add_argument(
        "--rank-by",
        default=None,
        metavar="METRIC",
        help="rank by this logged metric instead of the data's main one, e.g. fid_inception "
        "(an *_inception metric sets inception_every to the last step unless --set gives it)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key for every run, as in gankit train",
    )

    def run(args):
        from gankit.arena import ArenaSpec, arena, parse_losses

        if args.seeds < 1:
            raise ConfigError(f"--seeds {args.seeds}: must be >= 1")
        if args.jobs < 0:
            raise ConfigError(f"--jobs {args.jobs}: must be >= 1 (or 0 for the CPU count)")
        if args.evals < 1:
            raise ConfigError(f"--evals {args.evals}: must be >= 1")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{args.data}-{args.model}")
        spec = ArenaSpec(
            data=args.data,
            losses=parse_losses(args.losses),
            seeds=list(range(args.seeds)),
            steps=args.steps,
            out=args.out or os.path.join("runs", f"arena-{safe}"),
            model=args.model,
            budget_s=args.budget_s,
            jobs=args.jobs,
            sets=list(args.set),
            evals=args.evals,
            device=args.device,
            rank_by=args.rank_by,
        )
        results = arena(spec, target=args.target, drop_unfit=args.losses.strip().lower() == "all")
        for e in results["ranking"]:
            meds = ", ".join(f"{k} {v:.4g}" if v is not None else f"{k} -" for k, v in e["median"].items())
            print(
                f"{e['rank']:>3}. {e['loss']:<14} {meds}  diverged {e['diverged']}/{e['n_runs']}"
                f"  collapsed {e['collapsed']}/{e['n_runs']}"
                + (f"  off-mode {e['off_mode']}/{e['n_runs']}" if e.get("off_mode") else "")
            )
        print(f"report: {os.path.join(spec.out, 'report.html')}")
        return 0

    return run
