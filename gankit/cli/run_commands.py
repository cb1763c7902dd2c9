"""``gankit eval`` and ``gankit sample``: use a run folder's latest checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from gankit.cli import command
from gankit.cli.sample_options import add_sample_options
from gankit.errors import GankitError


def load_run(run_dir: str, device: str | None = None):
    from gankit.training.trainer import Trainer

    path = Path(run_dir)
    if not path.is_dir():
        raise GankitError(f"run folder {run_dir} does not exist")
    overrides = {"device": device} if device else {"device": "auto"}
    return Trainer.from_run(path, overrides=overrides)


@command("eval", help="metrics of a run's latest checkpoint")
def configure_eval(p):
    p.add_argument("run", metavar="RUN", help="run folder (its newest good checkpoint is evaluated)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--n", type=int, default=None, help="number of generated samples (default: the run's n_eval)"
    )
    p.add_argument(
        "--device",
        default=None,
        help="device to run on: auto (a GPU when there is one; default), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--metrics",
        default=None,
        choices=["inception"],
        help="inception: add Inception FID/KID & co (clean-fid protocol; needs the inception extra)",
    )

    def run(args):
        if args.n is not None and args.n < 1:
            raise GankitError(f"--n {args.n}: must be >= 1")
        trainer = load_run(args.run, args.device)
        metrics = {"step": trainer.state.step, **trainer.evaluate(args.n)}
        if args.metrics == "inception":
            from gankit.metrics.inception_eval import run_metrics

            metrics.update(run_metrics(trainer, args.n or trainer.cfg.n_eval, progress=True))
        if args.json:
            from gankit.training.runfolder import jsonable

            print(json.dumps({k: jsonable(v) for k, v in metrics.items()}))
        else:
            width = max(len(k) for k in metrics)
            for k, v in metrics.items():
                print(f"{k:<{width}}  {v:.4g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        return 0

    return run


@command("sample", help="draw samples from a run: a PNG picture or raw .npy")
def configure_sample(p):
    p.add_argument("run", metavar="RUN", nargs="?", default=None, help="run folder (or give --weights)")
    p.add_argument("--weights", default=None, metavar="G.safetensors", help="a generator from gankit export")
    p.add_argument("-n", type=int, default=1000, help="number of samples")
    p.add_argument("-o", "--output", required=True, help="output file (.png or .npy)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise drawn (default 0)")
    p.add_argument(
        "--device",
        default=None,
        help="device to run on: auto (a GPU when there is one; default), cpu, cuda or cuda:N",
    )
    add_sample_options(p)

    def run(args):

        from gankit.cli.sample_options import draw_grid, run_classes, sample_labels
        from gankit.viz.samples import write_samples, wrote_line

        if args.n < 1:
            raise GankitError(f"-n {args.n}: must be >= 1")
        if (args.run is None) == (args.weights is None):
            raise GankitError("give a run folder RUN or --weights G.safetensors (exactly one)")
        if args.weights:
            from gankit.export import load_generator

            if args.traverse or args.interpolate:
                raise GankitError("--traverse and --interpolate need a run folder RUN, not --weights")
            exported = load_generator(args.weights, args.device or "cpu")
            labels = sample_labels(args.n, exported.num_classes, args.klass)
            samples = exported.sample(args.n, seed=args.seed, labels=labels)
            title = f"{exported.config.data} / {exported.config.loss}, step {exported.step}"
            out = write_samples(samples, Path(args.output), exported.kind, title, None)
            print(wrote_line(exported.kind, args.n, out))
            return 0
        trainer = load_run(args.run, args.device)
        if args.traverse or args.interpolate:
            draw_grid(args, trainer)
            return 0
        y = sample_labels(args.n, run_classes(trainer), args.klass)
        samples = trainer.sample(args.n, seed=args.seed, y=y)
        title = f"{trainer.cfg.data} / {trainer.cfg.loss}, step {trainer.state.step}"
        out = write_samples(samples, Path(args.output), trainer.dataset.kind, title, trainer.dataset)
        print(wrote_line(trainer.dataset.kind, args.n, out))
        return 0

    return run
