"""What the lab's page may set, turned into a resolved run config (or one clear error).

The page sends a flat JSON object of config keys (``data``, ``loss``, ``lr_g``, ...) and
component options (``model_args``, ``recipe_args``, ``loss_args``); blank fields are left
out, so the component defaults apply as in ``gankit train``. Everything is checked by
``gankit.config.resolve`` and by building the Trainer, whose ConfigError text the page shows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gankit import config as config_mod
from gankit.errors import ConfigError, did_you_mean
from gankit.typed import parse_mapping

# Config keys the page may set; the rest (device, out, steps, ...) belong to the lab.
KEYS = (
    "data",
    "loss",
    "recipe",
    "penalties",
    "lr_g",
    "lr_d",
    "n_critic",
    "batch_size",
    "z_dim",
    "seed",
    "spectral_norm",
    "ema",
    "optimizer",
    "clip",
    "model_args",
    "loss_args",
    "recipe_args",
)
# The lab's starting point: the WGAN-GP toy data with the non-saturating game.
DEFAULTS: dict[str, Any] = {"data": "8gaussians", "loss": "ns", "model_args": {"width": 128}}
# Data the page offers (any dist:SPEC of 1 or 2 dimensions is accepted too).
DATA_CHOICES = (
    "8gaussians",
    "25gaussians",
    "ring",
    "grid",
    "swissroll",
    "dist:mix(0.4*normal(-2,0.5),0.6*normal(2,0.5))",
    "dist:normal(1,0.5)",
    "dist:normal2d(0,0,1,0.5,0.6)",
)
POINT_DATA = ("8gaussians", "25gaussians", "ring", "grid", "swissroll", "dist")  # built without files
RECIPES = ("plain", "critic", "gaussian-fit")  # the recipes of points and densities
LAB_STEPS = 3000  # the config's budget; the lab trains until paused (the schedule is constant)


def clean(settings: dict[str, Any]) -> dict[str, Any]:
    """Drop blank values; refuse keys the lab does not set, naming the valid ones."""
    if not isinstance(settings, dict):
        raise ConfigError('settings must be a JSON object of config keys, e.g. {"loss": "hinge"}')
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"unknown lab setting {unknown[0]!r}{did_you_mean(unknown[0], KEYS)}; the lab sets: {', '.join(KEYS)}"
        )
    out: dict[str, Any] = {}
    for k, v in settings.items():
        if v is None or v == "":
            continue
        if isinstance(v, dict):
            v = {a: b for a, b in v.items() if b is not None and b != ""}
            if not v and k != "penalties":
                continue
        out[k] = v
    return out


def to_config(settings: dict[str, Any]) -> config_mod.Config:
    """The resolved config of ``settings`` (raises ConfigError with the resolver's message)."""
    d = {**clean(settings)}
    if isinstance(d.get("penalties"), str):
        d["penalties"] = parse_mapping(d["penalties"], "penalties")
    d.update(device="cpu", steps=LAB_STEPS, lr_schedule="constant")
    d.setdefault("data", DEFAULTS["data"])  # the lab's own data, not a recipe's (it draws points)
    cfg = config_mod.from_dict(d, where="lab settings")
    _check_choices(cfg)  # before resolving: image data resolves to an image model, whose options differ
    cfg = config_mod.resolve(cfg)
    check_drawable(cfg)
    return cfg


def _check_choices(cfg: config_mod.Config) -> None:
    """The recipe and the data, which the lab must be able to draw, named before anything else."""
    if cfg.recipe not in RECIPES:
        raise ConfigError(
            f"recipe {cfg.recipe!r} is not drawn by the lab; choose one of: {', '.join(RECIPES)}"
        )
    if cfg.data.partition(":")[0] not in POINT_DATA:
        raise ConfigError(
            f"data {cfg.data!r} is not drawn by the lab; it draws 1-D and 2-D toy data: "
            f"{', '.join(POINT_DATA[:-1])} or dist:SPEC"
        )


def check_drawable(cfg: config_mod.Config) -> None:
    """The lab draws 1-D and 2-D samples from noise: points and densities, not images. The data
    is checked before the model: image data resolves to an image model, and the data is the cause."""
    from gankit.data.base import build_dataset

    _check_choices(cfg)
    if cfg.model != "mlp":
        raise ConfigError(f"model {cfg.model!r} is not drawn by the lab; it draws the mlp model")
    ds = build_dataset(cfg.data, cfg.data_args, cfg.data_dir)
    shape = tuple(getattr(ds, "sample_shape", ()))
    if getattr(ds, "kind", None) not in ("points", "density") or shape not in ((1,), (2,)):
        raise ConfigError(
            f"data {cfg.data!r} has samples of shape {shape}; the lab draws 1-D and 2-D data, "
            "e.g. dist:normal(0,1) or dist:normal2d(0,0,1,1)"
        )


def options() -> dict[str, Any]:
    """The choices the page offers: registry names and the defaults of the options shown."""
    from gankit import registries
    from gankit.tricks.options import TrickOptions

    return {
        "keys": list(KEYS),
        "defaults": DEFAULTS,
        "data": list(DATA_CHOICES),
        "loss": registries.OBJECTIVES.names(),
        "recipe": list(RECIPES),
        "penalty": registries.PENALTIES.names(),
        "tricks": dataclasses.asdict(TrickOptions()),
        "width": dataclasses.asdict(registries.MODELS.get("mlp").options())["width"],
    }
