"""``gankit train``: flags generated from the Config dataclass."""

from __future__ import annotations

import argparse
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


# What each flag does; its choices and default are appended from the Config dataclass. A None
# default means the value is filled in when the config is resolved (see FROM_PRESET).
HELP = {
    "data": "dataset: a name from `gankit list data`, folder:PATH or dist:SPEC",
    "model": "network family for G and D, from `gankit list model`",
    "loss": "objective (the game G and D play), from `gankit list loss`",
    "recipe": "how networks and objective make the two losses, from `gankit list recipe`",
    "steps": "generator updates to train to (with --resume: the new total)",
    "batch_size": "samples per update (per process under torchrun)",
    "lr": "learning rate of G and D together",
    "lr_g": "learning rate of G",
    "lr_d": "learning rate of D",
    "seed": "seed of weights, noise and data order",
    "device": "where to train: auto (a GPU when there is one), cpu, cuda or cuda:N",
    "out": "run folder for config, metrics, pictures and checkpoints",
    "z_dim": "size of G's noise input; 0: the model's own default",
    "n_critic": "D updates per G update",
    "optimizer": "optimizer of both players",
    "eval_every": "evaluate, log and draw pictures every N steps",
    "n_eval": "generated samples per evaluation",
    "ema": "decay of an exponential moving average of G's weights, sampled from; 0: off",
    "precision": "mixed precision: fp32 (off), bf16 or fp16 (with loss scaling)",
    "spectral_norm": "spectral normalization on D's layers (true/false; the flag alone: true)",
    "data_dir": "folder holding dataset files, e.g. DIR/mnist/",
    "progress": "progress on stderr; auto: $GANKIT_PROGRESS if set, else a bar on a terminal, lines otherwise",
    "on_nan": "NaN/inf in a loss or weights: stop, or roll back to the last checkpoint at lower lr",
    "clip": "clip D's weights to [-V, V] after each of its updates (WGAN); 0: off",
    "compile": "torch.compile the networks (true/false; the flag alone: true)",
    "deterministic": "CUDA: deterministic cuDNN kernels for bit-exact resume, slower (true/false)",
    "sync_bn": "under torchrun: batch-norm statistics over all processes (true/false)",
    "threads": "CPU threads for training; 0: gankit's choice (1 for a small MLP, else the cores other "
    "programs leave free, given back and taken again as they start and end)",
    "max_wall_s": "stop cleanly (evaluate, checkpoint) after this many seconds of training; 0: no limit",
}
# Where a None default is filled in (config.resolve): the recipe, then the objective.
FROM_PRESET = "from the preset/recommended defaults, see --dry-run"
NONE_DEFAULTS = {
    "model": f"{FROM_PRESET}: the recipe's model, mlp for plain",
    "loss": f"{FROM_PRESET}: the recipe's objective, ns for plain",
    "lr": "unset, lr_g and lr_d apply",
    "ema": f"{FROM_PRESET}: the recipe's, 0 (off) for plain",
    "out": "runs/DATA-LOSS-TIME",
    "data_dir": "$GANKIT_DATA, else ~/.cache/gankit",
}


def flag_help(name: str, default) -> str:
    """``HELP[name]``, the choices and what the default means, for ``gankit train --help``."""
    text = HELP[name]
    if name in config_mod.CHOICES:
        text += f"; one of {', '.join(config_mod.CHOICES[name])}"
    if default is None:
        meaning = NONE_DEFAULTS.get(name, f"{FROM_PRESET}: the objective's recommended value")
    elif isinstance(default, bool):
        meaning = str(default).lower()
    else:
        meaning = str(default)
    return f"{text} (default: {meaning})".replace("%", "%%")


class RegisteredNamesHelp(argparse.HelpFormatter):
    """Help that lists the registered names of --data, --model, --loss, --recipe and --penalty.
    They are read when help is printed: the registries import torch, which building the parser
    for every command must not."""

    KINDS = {"data": "data", "model": "model", "loss": "loss", "recipe": "recipe", "penalties": "penalty"}

    def _get_help_string(self, action):
        text = super()._get_help_string(action)
        kind = self.KINDS.get(action.dest)
        if kind and action.option_strings:
            from gankit import registries

            names = f"; one of {', '.join(registries.BY_KIND[kind].names())}"
            cut = text.find(" (default:")
            text = text + names if cut < 0 else text[:cut] + names + text[cut:]
        return text


def add_config_flags(p):
    p.formatter_class = RegisteredNamesHelp
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
            help=flag_help(name, default),
            **switch,
        )
    p.add_argument(
        "--penalty",
        dest="penalties",
        default=None,
        metavar="NAME=W,...",
        help="penalties on D, e.g. gp=10 or r1=1,drift=0.001; none to disable "
        f"(default: {FROM_PRESET}: the objective's, gp=10 for wgan-gp, none for most)",
    )
    p.add_argument(
        "--image-size",
        dest="image_size",
        default=None,
        metavar="N",
        help="image datasets: resize and centre-crop to N x N (sets data.image_size; default: the "
        "dataset's own size, 28 for MNIST)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        metavar="N",
        help="wall-clock budget in minutes (sets max_wall_s); the learning-rate schedule ends at it",
    )
    p.add_argument(
        "--config", default=None, help="JSON config file (a run's config.json works); flags override it"
    )
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
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="continue the run in DIR from its newest good checkpoint (raise --steps to train further)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the resolved config (every default filled in) and exit"
    )

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
        if args.resume:
            check_resume_steps(trainer, args.resume, args.steps is not None)
        row = trainer.fit()
        if trainer.cfg.steps == 0:
            print(
                "steps=0: nothing trained; the metrics below are the untrained generator's at step 0 "
                f"(continue with: gankit train --resume {trainer.run_dir} --steps N)"
            )
        print_summary(trainer, row)
        return 0

    return run


def check_resume_steps(trainer, run_dir, steps_given: bool) -> None:
    """Refuse a resume that would train nothing (before the run folder is touched)."""
    at, steps = trainer.state.step, trainer.cfg.steps
    if steps > at:
        return
    if steps_given:
        raise ConfigError(
            f"--steps {steps} is not beyond step {at}, where {run_dir} stands: nothing to train; "
            f"give --steps above {at} to continue it"
        )
    raise ConfigError(
        f"{run_dir} already reached its steps={steps}; give --steps above {at} to train further"
    )


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
