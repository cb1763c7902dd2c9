"""The typed run configuration.

One flat dataclass for what every run has, plus one options dict per chosen component
(``data_args``, ``model_args``, ``loss_args``, ``recipe_args``) whose keys are checked against
the dataclass that component registered. ``resolve`` fills every ``None`` from the components'
presets (gankit/presets.py), the objective's recommended defaults and the base defaults, and
every options dict from the component's defaults, so the saved config is complete and
reproduces the run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any

from gankit.errors import ConfigError, did_you_mean, require
from gankit.typed import coerce_dataclass

# Keys that may differ between a run and its resume: the budget can be extended, the run can
# move to another folder or device. Every other key must match exactly.
RESUME_MAY_DIFFER = (
    "steps",
    "max_wall_s",
    "out",
    "device",
    "resume",
    "progress",
    "allow_world_size_change",
    "deterministic",
    "threads",
    "eval_on_start",  # only a fresh run evaluates at step 0
)


@dataclasses.dataclass
class Config:
    # What to train.
    data: str | None = None  # None: the recipe preset's data (cyclegan: mnist2inverted), else 8gaussians
    model: str | None = None  # None: the presets' choice (mnist: dcgan), else mlp
    loss: str | None = None  # None: the presets' choice (cyclegan: lsgan), else ns
    recipe: str = "plain"
    # Budget and reproducibility.
    # None on a key below: the presets' value (gankit/presets.py), else the base default
    # (presets.BASE: steps 3000, batch 256, eval_every 500, decay_start 0.5, max_wall_s 0).
    steps: int | None = None  # generator updates
    # Stop cleanly (evaluate, checkpoint) after this much wall time; 0: off. The step count and
    # the lr schedule are fitted to the budget (speed measured in the first seconds; docs/presets.md).
    max_wall_s: float | None = None
    batch_size: int | None = None
    z_dim: int = 0  # 0: the model's own default
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # Optimization; None takes the objective's recommended default.
    optimizer: str | None = None  # adam | rmsprop | sgd
    lr: float | None = None  # sets lr_g and lr_d together
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    n_critic: int | None = None  # discriminator updates per generator update
    clip: float | None = None  # weight clipping of D after each of its updates (WGAN); 0: off
    penalties: dict[str, float] | None = None  # name -> weight, e.g. {"gp": 10}
    spectral_norm: bool = False
    ema: float | None = None  # decay of the generator's weight average; 0: off; None: the recipe's (0)
    lr_schedule: str | None = None  # constant | linear-decay; None: the recipe's (constant)
    decay_start: float | None = None  # fraction of steps after which linear-decay starts
    precision: str = "fp32"  # fp32 | bf16 | fp16
    compile: bool = False
    # CUDA: deterministic cuDNN kernels, for bit-exact resume on a GPU (slower); False lets cuDNN
    # pick the fastest kernels by timing them (torch.backends.cudnn.benchmark).
    deterministic: bool = False
    sync_bn: bool = False  # multi-process: batch norm statistics over all processes
    allow_world_size_change: bool = False  # resume with another process count (not exact)
    # Component options.
    data_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    model_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    loss_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    recipe_args: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_dir: str | None = None
    # Evaluation, logging, checkpoints.
    eval_every: int | None = None
    eval_on_start: bool = True  # evaluate the untrained generator at step 0 (curves start there)
    ckpt_every: int = 0  # 0: at every evaluation
    n_eval: int = 2500
    inception_every: int = 0  # log Inception FID/KID every this many steps (and at the end); 0: off
    n_inception: int = 0  # samples for the Inception metrics; 0: n_eval
    keep_ckpts: int = 2
    on_nan: str = "stop"  # stop | rollback
    max_rollbacks: int = 3
    out: str | None = None
    progress: str = "auto"  # auto | bar | lines | none
    threads: int = 0  # CPU threads; 0: chosen for the model and the other gankit runs here


COMPONENT_ARGS = {
    "data": "data_args",
    "model": "model_args",
    "loss": "loss_args",
    "recipe": "recipe_args",
}
CHOICES = {
    "optimizer": ("adam", "rmsprop", "sgd"),
    "lr_schedule": ("constant", "linear-decay"),
    "precision": ("fp32", "bf16", "fp16"),
    "on_nan": ("stop", "rollback"),
    "progress": ("auto", "bar", "lines", "none"),
}


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def from_dict(d: dict[str, Any], where: str = "config") -> Config:
    return coerce_dataclass(Config, d, where)


def load_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {path} is not valid JSON: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return d


def apply_set(d: dict[str, Any], assignment: str) -> None:
    """Apply ``--set key=value``; ``model.width=64`` sets ``model_args["width"]``."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key=value")
    key, value = assignment.split("=", 1)
    key = key.strip()
    if "." in key:
        section, sub = key.split(".", 1)
        section = COMPONENT_ARGS.get(section, section)
        if section not in COMPONENT_ARGS.values():
            raise ConfigError(
                f"--set {key}: unknown section {section!r}{did_you_mean(section, COMPONENT_ARGS)}; "
                f"use one of {', '.join(COMPONENT_ARGS)}"
            )
        d.setdefault(section, {})
        d[section] = dict(d[section])
        d[section][sub] = value
        return
    if key not in field_names():
        hint = did_you_mean(key, field_names())
        raise ConfigError(f"unknown config key {key!r}{hint}; valid keys: {', '.join(field_names())}")
    d[key] = value


def to_dict(cfg: Config) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    if d.get("betas") is not None:
        d["betas"] = list(d["betas"])
    return d


def _check_range(cfg: Config) -> None:
    need = functools.partial(require, owner=cfg)

    unset = {k: getattr(cfg, k) is None for k in ("steps", "max_wall_s", "batch_size", "eval_every")}
    need(unset["steps"] or cfg.steps >= 0, "steps", "an integer >= 0")
    need(unset["max_wall_s"] or cfg.max_wall_s >= 0, "max_wall_s", "a number of seconds >= 0 (0: no limit)")
    need(unset["batch_size"] or cfg.batch_size >= 1, "batch_size", "an integer >= 1")
    need(cfg.z_dim >= 0, "z_dim", "an integer >= 0 (0: the model's default)")
    need(unset["eval_every"] or cfg.eval_every >= 1, "eval_every", "an integer >= 1")
    need(cfg.threads >= 0, "threads", "an integer >= 0 (0: chosen automatically)")
    need(cfg.ckpt_every >= 0, "ckpt_every", "an integer >= 0")
    need(cfg.n_eval >= 1, "n_eval", "an integer >= 1")
    need(cfg.inception_every >= 0, "inception_every", "an integer >= 0 (0: off)")
    need(cfg.n_inception == 0 or cfg.n_inception >= 2, "n_inception", "an integer >= 2 (0: n_eval)")
    need(cfg.keep_ckpts >= 1, "keep_ckpts", "an integer >= 1")
    need(cfg.max_rollbacks >= 0, "max_rollbacks", "an integer >= 0")
    for key in ("lr", "lr_g", "lr_d"):
        v = getattr(cfg, key)
        need(v is None or v > 0, key, "a number > 0")
    need(cfg.n_critic is None or cfg.n_critic >= 1, "n_critic", "an integer >= 1")
    need(cfg.clip is None or cfg.clip >= 0, "clip", "a number >= 0 (0: no clipping)")
    need(cfg.ema is None or 0.0 <= cfg.ema < 1.0, "ema", "a number in [0, 1)")
    need(cfg.decay_start is None or 0.0 <= cfg.decay_start <= 1.0, "decay_start", "a number in [0, 1]")
    if cfg.betas is not None:
        need(all(0.0 <= b < 1.0 for b in cfg.betas), "betas", "two numbers in [0, 1)")
    for key, choices in CHOICES.items():
        v = getattr(cfg, key)
        if v is not None and v not in choices:
            hint = did_you_mean(v, choices)
            raise ConfigError(f"{key}={v!r} is not allowed{hint}; choose one of: {', '.join(choices)}")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or dev.startswith("cuda:")):
        raise ConfigError(f"device={dev!r} is not allowed; choose auto, cpu, cuda or cuda:N")


def _check_label_smoothing(loss: str, loss_args: dict, objectives) -> None:
    """One-sided label smoothing (Salimans et al. 2016, sec. 3.4) moves the real target of a
    probability logit; refuse it by name for objectives that have no such target."""
    if "label_smoothing" not in (loss_args or {}) or loss not in objectives:
        return
    if not getattr(objectives.get(loss).factory, "supports_label_smoothing", False):
        able = [
            n
            for n in objectives.names()
            if getattr(objectives.get(n).factory, "supports_label_smoothing", False)
        ]
        raise ConfigError(
            f"loss.label_smoothing is defined only for objectives whose discriminator outputs a "
            f"real-vs-fake probability logit ({', '.join(able)}); objective {loss!r} has no real "
            "target to smooth: drop the option or use --loss ns"
        )


def resolve(cfg: Config) -> Config:
    """Return a complete copy: presets and component options filled, objective defaults
    applied, ranges checked."""
    return resolve_with_sources(cfg)[0]


def resolve_with_sources(cfg: Config) -> tuple[Config, dict[str, str]]:
    """``resolve`` and, per key, where its value came from (flag, which preset, defaults).

    Order, later wins: base defaults < objective defaults < model preset < recipe preset <
    dataset preset < explicit flags (gankit/presets.py)."""
    from gankit import presets, registries  # imports every component so the registries are full

    _check_range(cfg)
    given_model_args = dict(cfg.model_args)  # what the user asked for, before presets
    cfg, sources = presets.apply(cfg)
    _check_label_smoothing(cfg.loss, cfg.loss_args, registries.OBJECTIVES)
    for kind, attr in COMPONENT_ARGS.items():
        registry = registries.BY_KIND[kind]
        name = getattr(cfg, kind)
        if kind == "data":  # "folder:PATH" selects "folder" with option path=PATH
            name, _, arg = name.partition(":")
            if arg:
                getattr(cfg, attr)["path"] = arg
        opts = registry.resolve_options(name, getattr(cfg, attr))
        setattr(cfg, attr, dataclasses.asdict(opts) if opts is not None else {})
        for k, v in getattr(cfg, attr).items():
            if isinstance(v, tuple):
                getattr(cfg, attr)[k] = list(v)

    for key, value in presets.BASE.items():
        if getattr(cfg, key) is None:
            setattr(cfg, key, value)
    cfg.ema = cfg.ema if cfg.ema is not None else 0.0
    cfg.lr_schedule = cfg.lr_schedule or "constant"
    defaults = registries.OBJECTIVES.get(cfg.loss).factory.defaults
    cfg.optimizer = cfg.optimizer or defaults.optimizer
    cfg.lr_g = cfg.lr_g if cfg.lr_g is not None else (cfg.lr if cfg.lr is not None else defaults.lr_g)
    cfg.lr_d = cfg.lr_d if cfg.lr_d is not None else (cfg.lr if cfg.lr is not None else defaults.lr_d)
    cfg.lr = None
    cfg.betas = tuple(cfg.betas) if cfg.betas is not None else tuple(defaults.betas)
    cfg.n_critic = cfg.n_critic if cfg.n_critic is not None else defaults.n_critic
    cfg.clip = cfg.clip if cfg.clip is not None else defaults.clip
    if cfg.penalties is None:
        cfg.penalties = dict(defaults.penalties)
    for name, weight in cfg.penalties.items():
        registries.PENALTIES.get(name)
        if not (weight >= 0 and math.isfinite(weight)):
            raise ConfigError(f"penalties: weight of {name!r} is {weight}; allowed: a number >= 0")
    _critic_norm_for_penalties(cfg, given_model_args)
    _check_range(cfg)
    return cfg, presets.fill_sources(sources, cfg)


def _critic_norm_for_penalties(cfg: Config, given_model_args: dict[str, Any]) -> None:
    """A gradient penalty (gp, gp-one-sided, r1, dragan) constrains each example's own input
    gradient; batch norm in the critic makes every output depend on the whole batch, so the
    gradient is not per example (Gulrajani et al. 2017, sec. 4, use none and suggest layer
    norm). With such a penalty the critic's norm defaults to layer norm; batch norm asked for
    by name is refused."""
    from gankit.penalties import PER_EXAMPLE_GRADIENT

    penalized = [n for n in PER_EXAMPLE_GRADIENT if (cfg.penalties or {}).get(n, 0) > 0]
    if not penalized or cfg.model_args.get("d_norm") != "batch":
        return
    if given_model_args.get("d_norm") == "batch":
        raise ConfigError(
            f"model d_norm=batch with the gradient penalty {penalized[0]!r}: batch norm mixes the "
            "examples whose gradients the penalty constrains one by one; use d_norm=layer (the "
            "default with a penalty) or d_norm=none"
        )
    cfg.model_args["d_norm"] = "layer"


def diff(saved: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ, ignoring those a resume may change."""
    keys = sorted(set(saved) | set(new))
    return [k for k in keys if k not in RESUME_MAY_DIFFER and saved.get(k) != new.get(k)]
