"""Presets: tuned defaults declared next to the component they tune.

A dataset, model, objective or recipe registers its presets beside its definition::

    @DATASETS.register("grid", presets=TOY_PRESETS)

Each :class:`Preset` holds config values, the conditions under which they were measured
(``when``) and its provenance: the benchmark row that measured it, or the words
"unmeasured guess". ``resolve`` composes them in one fixed order, later layers winning::

    base defaults < objective defaults < model preset < recipe preset < dataset preset < explicit flags

Choices come first: ``model`` and ``loss`` left unset are picked by the highest layer whose
preset names them (dataset, then recipe, then objective), else ``mlp`` and ``ns``. Then values:
every key the user left unset takes the highest applicable preset's value. A preset applies
when each of its ``when`` conditions holds for the resolved choices (a tuple value means "one
of"); a condition on a component option (``"recipe.pack": 2``) holds for the user's value of
that option, else its default. Of a component's presets the first that applies is used. Explicit flags always win;
``sources`` records, per key, where its value came from (``gankit train --dry-run``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# Choices a preset may make for the user; every other preset key is a value.
PICKS = ("model", "loss")
# Values of keys that no preset sets: the lowest layer ("base default").
BASE = {"steps": 3000, "batch_size": 256, "decay_start": 0.5, "eval_every": 500, "max_wall_s": 0.0}
BASE_DATA = "8gaussians"  # the data when neither a flag nor the recipe's preset names one
COMPONENT_SECTIONS = {
    "data": "data_args",
    "model": "model_args",
    "loss": "loss_args",
    "recipe": "recipe_args",
}
# Keys a preset may set: these Config fields (None there means "unset") and component options
# written "model.width".
SETTABLE = (
    "data",  # a recipe's preset only, for runs that name no data (BASE_DATA otherwise)
    *PICKS,
    *BASE,
    "lr",
    "lr_g",
    "lr_d",
    "betas",
    "n_critic",
    "clip",
    "penalties",
    "ema",
    "lr_schedule",
    "optimizer",
)
# Layers from lowest to highest (objective defaults are applied after the presets, lowest).
LAYERS = ("model", "recipe", "data")


@dataclasses.dataclass(frozen=True)
class Preset:
    """Tuned config values for one component, with the conditions and row that measured them."""

    values: Mapping[str, Any]
    source: str  # the benchmark row that measured it, or "unmeasured guess: ..."
    when: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for key in self.values:
            section = key.split(".", 1)[0]
            if key not in SETTABLE and not ("." in key and section in COMPONENT_SECTIONS):
                raise RuntimeError(
                    f"preset key {key!r} is not settable; use one of {SETTABLE} or kind.option"
                )
        if not self.source:
            raise RuntimeError("a preset needs its provenance (a benchmark row or 'unmeasured guess')")

    def holds(self, known: Mapping[str, Any]) -> bool:
        """Every condition holds where ``known`` has the key (an unset choice matches anything)."""
        for key, want in self.when.items():
            if key not in known or known[key] is None:
                continue
            have = known[key]
            if (have not in want) if isinstance(want, tuple) else (have != want):
                return False
        return True

    def describe(self) -> str:
        vals = ", ".join(f"{k}={_short(v)}" for k, v in self.values.items())
        cond = " and ".join(f"{k}={'|'.join(v) if isinstance(v, tuple) else v}" for k, v in self.when.items())
        return f"{vals}{f' (when {cond})' if cond else ''} [{self.source}]"


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return ",".join(f"{k}={w}" for k, w in v.items()) or "none"
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def as_presets(preset: Preset | tuple | list | None) -> tuple[Preset, ...]:
    if preset is None:
        return ()
    return (preset,) if isinstance(preset, Preset) else tuple(preset)


def data_name(data: str) -> str:
    """``folder:PATH`` is the dataset ``folder``."""
    return data.partition(":")[0]


def _choose(registry, name: str | None, known: Mapping[str, Any]) -> Preset | None:
    if name is None or name not in registry:
        return None
    return next((p for p in registry.get(name).presets if p.holds(known)), None)


def _explicit(cfg) -> dict[str, Any]:
    """The settable keys the user set (not None), component options included as kind.key."""
    out = {k: getattr(cfg, k) for k in SETTABLE if getattr(cfg, k) is not None}
    for kind, attr in COMPONENT_SECTIONS.items():
        for k, v in (getattr(cfg, attr) or {}).items():
            out[f"{kind}.{k}"] = v
    return out


def apply(cfg) -> tuple[Any, dict[str, str]]:
    """Fill the unset keys of ``cfg`` (a copy) from the presets; return it and each key's source.

    Keys left unset here (None) are filled afterwards by the objective's defaults and the
    dataclass defaults, in ``gankit.config.resolve``."""
    from gankit import registries

    cfg = dataclasses.replace(
        cfg, **{attr: dict(getattr(cfg, attr) or {}) for attr in COMPONENT_SECTIONS.values()}
    )
    sources = {k: "flag" for k in _explicit(cfg)}
    registries.RECIPES.get(cfg.recipe)  # an unknown recipe is named before anything else
    if cfg.data is None:  # the recipe's own data (cyclegan: two domains), else the base default
        preset = _choose(registries.RECIPES, cfg.recipe, {"recipe": cfg.recipe})
        if preset is not None and "data" in preset.values:
            cfg.data = preset.values["data"]
            sources["data"] = f"recipe {cfg.recipe} preset [{preset.source}]"
        else:
            cfg.data, sources["data"] = BASE_DATA, "base default"
    known = {"data": data_name(cfg.data), "recipe": cfg.recipe, "model": cfg.model, "loss": cfg.loss}
    chosen: dict[str, tuple[str, Preset]] = {}

    def pick(kind: str, name: str | None) -> None:
        preset = _choose(registries.BY_KIND[kind], name, known)
        if preset is None:
            return
        for key in PICKS:
            if known[key] is None and key in preset.values:
                known[key] = preset.values[key]
                sources[key] = f"{kind} {name} preset [{preset.source}]"

    # Choices: the dataset's preset first, then the recipe's, then the objective's.
    pick("data", known["data"])
    pick("recipe", cfg.recipe)
    if known["loss"] is None:
        known["loss"], sources["loss"] = "ns", "base default"
    pick("loss", known["loss"])
    if known["model"] is None:
        known["model"], sources["model"] = "mlp", "base default"
    cfg.model, cfg.loss = known["model"], known["loss"]
    # Values: each layer's first preset whose conditions hold for the final choices; the higher
    # layer wins, an explicit flag above all.
    known.update(_options_known(cfg, known))
    for kind in ("loss", *LAYERS):
        name = known[kind] if kind != "data" else known["data"]
        preset = _choose(registries.BY_KIND[kind], name, known)
        if preset is not None:
            chosen[kind] = (name, preset)
    for kind in reversed(("loss", *LAYERS)):
        if kind not in chosen:
            continue
        name, preset = chosen[kind]
        if "data" in preset.values and kind != "recipe":  # a declaration error, not a user's
            raise RuntimeError(f"the {kind} {name} preset names data; only a recipe's preset may")
        for key, value in preset.values.items():
            if key in PICKS or key in sources:  # sources always holds "data" by now
                continue
            _set(cfg, key, value)
            sources[key] = f"{kind} {name} preset [{preset.source}]"
    return cfg, sources


def _options_known(cfg, known: Mapping[str, Any]) -> dict[str, Any]:
    """``kind.option`` -> the user's value, else the option's default, for the options some
    chosen component's preset conditions on (``when={"recipe.pack": 2}``)."""
    from gankit import registries

    wanted = {
        key
        for kind in ("loss", *LAYERS)
        if known.get(kind) in registries.BY_KIND[kind]
        for preset in registries.BY_KIND[kind].get(known[kind]).presets
        for key in preset.when
        if "." in key
    }
    out = {}
    for key in wanted:
        kind, opt = key.split(".", 1)
        registry = registries.BY_KIND.get(kind)
        if registry is None or known.get(kind) not in registry or registry.get(known[kind]).options is None:
            continue
        # the user's options parsed (``--set`` gives strings) over the component's defaults
        opts = registry.resolve_options(known[kind], getattr(cfg, COMPONENT_SECTIONS[kind]))
        out[key] = getattr(opts, opt, None)
    return out


def _set(cfg, key: str, value: Any) -> None:
    if "." in key:
        kind, opt = key.split(".", 1)
        getattr(cfg, COMPONENT_SECTIONS[kind])[opt] = value
    else:
        setattr(cfg, key, dict(value) if isinstance(value, dict) else value)


def fill_sources(sources: Mapping[str, str], cfg) -> dict[str, str]:
    """Sources of the keys the presets left unset, once ``cfg`` is resolved: the objective's
    defaults, the component's option defaults or the base defaults."""
    out = dict(sources)
    for key in ("optimizer", "lr_g", "lr_d", "betas", "n_critic", "clip", "penalties"):
        if key not in out:
            via_lr = key in ("lr_g", "lr_d") and "lr" in out
            out[key] = out["lr"] if via_lr else f"objective {cfg.loss} defaults"
    for key in ("ema", "lr_schedule", *BASE):
        out.setdefault(key, "base default")
    for kind, attr in COMPONENT_SECTIONS.items():
        for opt in getattr(cfg, attr):
            name = data_name(cfg.data) if kind == "data" else getattr(cfg, kind)
            out.setdefault(f"{kind}.{opt}", f"{kind} {name} option default")
    out.pop("lr", None)  # resolved into lr_g and lr_d
    return out


def explain(cfg, sources: Mapping[str, str]) -> list[str]:
    """Lines ``key = value  <- source`` for the keys presets, defaults or flags decide."""
    from gankit.config import to_dict

    d = to_dict(cfg)
    lines = []
    notes: dict[str, int] = {}  # provenance text -> its footnote number, each printed once
    for key in sorted(sources, key=_order):
        if sources[key].endswith("option default"):
            continue  # in the printed config; only options a flag or preset set are listed
        if "." in key:
            kind, opt = key.split(".", 1)
            value = d[COMPONENT_SECTIONS[kind]].get(opt)
        else:
            value = d.get(key)
        source, bracket, note = sources[key].partition(" [")
        if bracket:
            source += f" [{notes.setdefault(note.removesuffix(']'), len(notes) + 1)}]"
        lines.append(f"{key:<24} {_short(value) if value is not None else 'none':<22} <- {source}")
    lines += [f"[{n}] {text}" for text, n in notes.items()]
    return lines


def _order(key: str) -> tuple[int, str]:
    return (1 if "." in key else 0, key)
