"""``gankit train``: flags generated from the Config dataclass."""

from __future__ import annotations

import dataclasses
import json
import sys

from gankit import config as config_mod
from gankit.cli import command
from gankit.errors import ConfigError

# Fields with a short flag of their own; every field is also reachable with --set key=value.
COMMON = (
    "data",
    "model",
    "loss",
    "recipe",
    "steps",
    "batch_size",
    "lr",
    "lr_g",
    "lr_d",
    "seed",
    "device",
    "out",
    "z_dim",
    "n_critic",
    "optimizer",
    "eval_every",
    "n_eval",
    "ema",
    "precision",
    "spectral_norm",
    "data_dir",
    "progress",
    "on_nan",
    "clip",
    "compile",
    "deterministic",
    "sync_bn",
    "max_wall_s",
    "threads",
)


def add_config_flags(p):
    fields = {f.name: f for f in dataclasses.fields(config_mod.Config)}
    for name in COMMON:
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else None
        switch = {"nargs": "?", "const": "true"} if isinstance(default, bool) else {}  # --compile alone
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            metavar=name.upper(),
            help=f"(default: {default})",
            **switch,
        )
    p.add_argument(
        "--penalty",
        dest="penalties",
        default=None,
        metavar="NAME=W,...",
        help="penalties on D, e.g. gp=10 or r1=1,drift=0.001; none to disable",
    )
    p.add_argument(
        "--image-size",
        dest="image_size",
        default=None,
        metavar="N",
        help="image datasets: resize and centre-crop to N x N (sets data.image_size)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        metavar="N",
        help="wall-clock budget in minutes (sets max_wall_s); the learning-rate schedule ends at it",
    )
    p.add_argument("--config", default=None, help="JSON config file (a run's config.json works)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config key; model.width=512 sets a component option",
    )


def config_from_args(args) -> config_mod.Config:
    d = config_mod.load_file(args.config) if args.config else {}
    for name in (*COMMON, "penalties"):
        v = getattr(args, name, None)
        if v is not None:
            d[name] = v
    if getattr(args, "image_size", None) is not None:
        config_mod.apply_set(d, f"data.image_size={args.image_size}")
    _minutes(d, args)
    for assignment in args.set:
        config_mod.apply_set(d, assignment)
    return config_mod.from_dict(d)


def _minutes(d: dict, args) -> None:
    minutes = getattr(args, "minutes", None)
    if minutes is not None:
        if not minutes > 0:
            raise ConfigError(f"--minutes {minutes:g}: must be a number of minutes > 0")
        d["max_wall_s"] = 60.0 * minutes


def overrides_from_args(args) -> dict:
    d = {}
    for name in (*COMMON, "penalties"):
        v = getattr(args, name, None)
        if v is not None:
            d[name] = v
    _minutes(d, args)
    for assignment in args.set:
        config_mod.apply_set(d, assignment)
    return d


@command("train", help="train a GAN (or resume a run with --resume DIR)")
def configure(p):
    add_config_flags(p)
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")

    def run(args):
        from gankit.training.trainer import Trainer

        if args.resume:
            if args.config:
                raise ConfigError("--resume takes the run's own config; do not pass --config")
            raw = overrides_from_args(args)
            trainer = Trainer.from_run(args.resume, overrides=raw)
        else:
            cfg = config_from_args(args)
            trainer = Trainer(cfg)
        if args.dry_run:  # the config on stdout (usable with --config), its sources on stderr
            print(json.dumps(config_mod.to_dict(trainer.cfg), indent=2))
            if not args.resume:
                from gankit.presets import explain

                print("where each value comes from:", file=sys.stderr)
                for line in explain(*config_mod.resolve_with_sources(cfg)):
                    print(f"  {line}", file=sys.stderr)
            return 0
        row = trainer.fit()
        print_summary(trainer, row)
        return 0

    return run


def print_summary(trainer, row: dict) -> None:
    skip = {"images_seen"}
    items = [(k, v) for k, v in row.items() if k not in skip]
    width = max((len(k) for k, _ in items), default=0)
    print(f"run: {trainer.run_dir}")
    for k, v in items:
        val = f"{v:.4g}" if isinstance(v, float) else str(v)
        print(f"  {k:<{width}}  {val}")
    pic = trainer.run_dir / "pictures" / "latest.png"
    if pic.exists():
        print(f"picture: {pic}")
    sys.stdout.flush()
