"""The theory lab's commands: ``divergence``, ``optimal-d``, ``mle-vs-kl`` and ``modes``.

Each shows its progress on stderr (a bar on a terminal, lines otherwise; ``$GANKIT_PROGRESS``
chooses, as for training), writes ``result.json`` and ``result.png`` into ``--out`` (default
``runs/theory-<command>-<time>``) and prints a short table; ``--json`` prints the JSON instead.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from gankit.cli import command
from gankit.training.progress import Progress, StageBar

PAIR = ("normal(0,1)", "normal(1,1.1)")
BIMODAL = "mix(0.4*normal(-2,0.5),0.6*normal(2,0.5))"
MIXTURE = "mix(0.3*normal(-2,0.5),0.7*normal(1,1))"


def _public(obj):
    """The JSON-safe part of a result: keys starting with '_' dropped, inf as a string."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_public(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def _out_dir(args, name: str) -> Path:
    from gankit.training.runfolder import check_writable

    out = Path(args.out or Path("runs") / f"theory-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    check_writable(out)
    return out


def _finish(args, out: Path, result: dict, draw, table: list[tuple[str, ...]]) -> int:
    public = _public(result)
    public["picture"] = str(out / "result.png")
    (out / "result.json").write_text(json.dumps(public, indent=2) + "\n")
    draw(result, out / "result.png")
    if args.json:
        print(json.dumps(public))
        return 0
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(
            "  ".join(
                c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print(f"results: {out / 'result.json'}\npicture: {out / 'result.png'}")
    return 0


def _common(p, steps: int, batch: int):
    p.add_argument("--steps", type=int, default=steps, help=f"critic updates (default {steps})")
    p.add_argument(
        "--batch-size", type=int, default=batch, help=f"samples of P and of Q per update (default {batch})"
    )
    p.add_argument("--width", type=int, default=64, help="hidden units of the critic MLP (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of networks and samples (default 0)")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default runs/theory-<command>-<time>)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _budget(args):
    from gankit.errors import ConfigError
    from gankit.theory.games import CriticBudget

    if args.steps < 1 or args.batch_size < 1 or args.width < 1:
        raise ConfigError("--steps, --batch-size and --width must be >= 1")
    return CriticBudget(steps=args.steps, batch_size=args.batch_size, width=args.width, seed=args.seed)


def _g(v) -> str:
    return f"{v:.5g}" if isinstance(v, float) else str(v)


@command("divergence", help="estimate D_f(P||Q) with an f-GAN critic beside its exact value")
def configure_divergence(p):
    p.add_argument(
        "--f",
        required=True,
        metavar="NAME",
        help="kl, rkl, pearson, neyman, hellinger, js (2 JSD), tv or gan (2 JSD - log 4)",
    )
    p.add_argument("--p", default=PAIR[0], metavar="SPEC", help=f"distribution P (default {PAIR[0]})")
    p.add_argument("--q", default=PAIR[1], metavar="SPEC", help=f"distribution Q (default {PAIR[1]})")
    _common(p, steps=1500, batch=1024)

    def run(args):
        from gankit.theory.exact import get_divergence
        from gankit.theory.games import estimate_divergence
        from gankit.theory.plots import plot_divergence
        from gankit.theory.spec import parse_spec

        get_divergence(args.f)
        parse_spec(args.p), parse_spec(args.q)
        budget = _budget(args)
        out = _out_dir(args, "divergence")
        with Progress(budget.steps, 0, desc=f"divergence {args.f}") as bar:
            r = estimate_divergence(args.f, args.p, args.q, budget, lambda step, logs: bar.update(step))
        table = [
            ("divergence", "exact", "estimate", "abs_error", "rel_error", "critic_sup_error", "seconds"),
            (
                r["divergence"],
                _g(r["exact"]),
                _g(r["estimate"]),
                _g(r["abs_error"]),
                f"{100 * r['rel_error']:.2f}%",
                _g(r["critic_sup_error"]),
                _g(r["train_seconds"]),
            ),
        ]
        return _finish(args, out, r, plot_divergence, table)

    return run


@command("optimal-d", help="train the minimax discriminator between P and Q beside D* = p/(p+q)")
def configure_optimal_d(p):
    p.add_argument("--p", default=PAIR[0], metavar="SPEC", help=f"distribution P (default {PAIR[0]})")
    p.add_argument("--q", default=PAIR[1], metavar="SPEC", help=f"distribution Q (default {PAIR[1]})")
    _common(p, steps=1500, batch=1024)

    def run(args):
        from gankit.theory.games import optimal_discriminator
        from gankit.theory.plots import plot_optimal_d
        from gankit.theory.spec import parse_spec

        parse_spec(args.p), parse_spec(args.q)
        budget = _budget(args)
        out = _out_dir(args, "optimal-d")
        with Progress(budget.steps, 0, desc="optimal-d") as bar:
            r = optimal_discriminator(args.p, args.q, budget, lambda step, logs: bar.update(step))
        table = [
            ("sup|D - D*|", "V(D)", "-log4 + 2 JSD", "gap", "seconds"),
            (
                _g(r["sup_error"]),
                _g(r["value"]),
                _g(r["optimal_value"]),
                _g(r["value_gap"]),
                _g(r["train_seconds"]),
            ),
        ]
        return _finish(args, out, r, plot_optimal_d, table)

    return run


@command("mle-vs-kl", help="fit a Gaussian mixture by maximum likelihood: log-likelihood gap = KL")
def configure_mle(p):
    p.add_argument("--p", default=MIXTURE, metavar="SPEC", help=f"data distribution (default {MIXTURE})")
    p.add_argument("--k", type=int, default=2, help="mixture components of the model (default 2)")
    p.add_argument("--n", type=int, default=2000, help="training samples (default 2000)")
    p.add_argument("--n-test", type=int, default=100_000, help="fresh samples for the test log-likelihood")
    p.add_argument("--iters", type=int, default=30, help="EM iterations (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of networks and samples (default 0)")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default runs/theory-<command>-<time>)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def run(args):
        from gankit.theory.mle import mle_vs_kl
        from gankit.theory.plots import plot_mle

        with Progress(args.iters + 1, 0, desc="mle-vs-kl", unit="iter") as bar:
            r = mle_vs_kl(
                args.p,
                k=args.k,
                n_train=args.n,
                n_test=args.n_test,
                iters=args.iters,
                seed=args.seed,
                on_iter=lambda it: bar.update(it + 1),
            )
        out = _out_dir(args, "mle-vs-kl")
        table = [("iter", "loglik_train", "loglik_test", "-loglik_test-H", "KL exact", "loglik gap")]
        rows = r["rows"]
        for row in rows[:: max(1, len(rows) // 8)] + (
            [rows[-1]] if (len(rows) - 1) % max(1, len(rows) // 8) else []
        ):
            table.append(
                (
                    str(row["iter"]),
                    _g(row["loglik_train"]),
                    _g(row["loglik_test"]),
                    _g(row["minus_loglik_test_minus_entropy"]),
                    _g(row["kl_exact"]),
                    _g(row["loglik_gap_true_minus_model"]),
                )
            )
        return _finish(args, out, r, plot_mle, table)

    return run


@command("modes", help="fit one Gaussian to two modes with each f-divergence: covering vs seeking")
def configure_modes(p):
    p.add_argument("--p", default=BIMODAL, metavar="SPEC", help=f"target distribution (default {BIMODAL})")
    p.add_argument(
        "--f",
        default="kl,rkl,pearson,neyman,hellinger,js,tv,gan",
        metavar="NAMES",
        help="comma-separated divergences (default: all eight)",
    )
    p.add_argument("--steps", type=int, default=1500, help="generator updates per divergence (default 1500)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=512,
        help="samples of P and of the Gaussian per update (default 512)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of networks and samples (default 0)")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default runs/theory-<command>-<time>)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def run(args):
        from gankit.errors import ConfigError
        from gankit.theory.exact import get_divergence
        from gankit.theory.modes import GameBudget, modes
        from gankit.theory.plots import plot_modes

        names = [n.strip() for n in args.f.split(",") if n.strip()]
        for n in names:
            get_divergence(n)
        if args.steps < 1 or args.batch_size < 1:
            raise ConfigError("--steps and --batch-size must be >= 1")
        budget = GameBudget(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
        out = _out_dir(args, "modes")
        with StageBar(len(names), "modes", unit="divergence") as bar:
            r = modes(args.p, names, budget, report=bar.stage)
        keys = (
            "game_mean",
            "game_std",
            "exact_mean",
            "exact_std",
            "local_mean",
            "local_std",
            "game_divergence",
            "exact_divergence",
        )
        table = [
            (
                "divergence",
                "game mean",
                "game std",
                "exact mean",
                "exact std",
                "local mean",
                "local std",
                "D_f(game)",
                "D_f(exact)",
            )
        ]
        table += [(row["divergence"], *(_g(row[k]) for k in keys)) for row in r["rows"]]
        return _finish(args, out, r, plot_modes, table)

    return run
