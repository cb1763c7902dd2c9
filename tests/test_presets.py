"""Presets: each resolves to what it declares, explicit flags win, provenance is shown."""

from __future__ import annotations

import json

import pytest

from gankit import config as config_mod
from gankit import presets, registries
from gankit.cli import main
from gankit.config import Config
from gankit.presets import Preset

# A dataset without presets, for testing the lower layers alone.
PLAIN_DATA = "dist:normal(0,1)"


def _declared() -> list[tuple[str, str, Preset]]:
    out = []
    for kind in ("data", "model", "loss", "recipe"):
        registry = registries.BY_KIND[kind]
        for name in registry.names():
            out += [(kind, name, p) for p in registry.get(name).presets]
    return out


def _config_for(kind: str, name: str, preset: Preset) -> dict:
    """Config keywords under which ``preset`` is the one that applies: the component chosen and
    every condition set, except the choices the preset makes itself."""
    kw = {"data": (name if name != "folder" else "folder:/nonexistent") if kind == "data" else PLAIN_DATA}
    if kind != "data":
        kw[kind] = name
    if "data" in preset.values:  # a recipe's own data, for runs that name none (cyclegan)
        del kw["data"]
    options = {}  # conditions on component options ("recipe.pack": 2), as kind.option keys
    for key, want in preset.when.items():
        if "." in key:
            section, opt = key.split(".", 1)
            kw.setdefault(presets.COMPONENT_SECTIONS[section], {})[opt] = want
            options[key] = want
        elif key not in preset.values and not isinstance(want, tuple):
            kw[key] = want
    entries = registries.BY_KIND[kind].get(name).presets
    known = (
        {"data": kw.get("data"), "recipe": kw.get("recipe", "plain"), "model": None, "loss": None}
        | kw
        | options
    )
    if next(p for p in entries if p.holds(known)) is not preset:
        # a second tuned preset behind the first (mnist: lucic, then dcgan when asked for), chosen
        # by the user's choice it names; else a catch-all after a tuned one
        chosen = {k: v for k, v in preset.when.items() if "." not in k and not isinstance(v, tuple)}
        if next(p for p in entries if p.holds(known | chosen)) is preset:
            kw.update(chosen)
        else:
            kw["loss"] = "hinge"
    return kw


def _resolved_value(cfg: Config, key: str):
    if "." in key:
        section, opt = key.split(".", 1)
        return getattr(cfg, presets.COMPONENT_SECTIONS[section])[opt]
    if key == "lr":
        assert cfg.lr_g == cfg.lr_d
        return cfg.lr_g
    return getattr(cfg, key)


def _norm(v):
    return list(v) if isinstance(v, (tuple, list)) else v


DECLARED = _declared()


def test_presets_are_declared_for_the_components_the_issue_names():
    owners = {(kind, name) for kind, name, _ in DECLARED}
    for data in ("grid", "25gaussians", "ring", "8gaussians", "swissroll", "curve", "mnist", "fashion-mnist"):
        assert ("data", data) in owners, data
    for data in ("stacked-mnist", "cifar10", "folder"):
        assert ("data", data) in owners, data
    for recipe in ("infogan", "progressive", "cyclegan"):
        assert ("recipe", recipe) in owners, recipe
    assert ("loss", "began") in owners
    assert all(p.source for _, _, p in DECLARED)


@pytest.mark.parametrize(
    "kind, name, preset", DECLARED, ids=[f"{k}-{n}-{i}" for i, (k, n, _) in enumerate(DECLARED)]
)
def test_each_preset_resolves_to_what_it_declares(kind, name, preset):
    kw = _config_for(kind, name, preset)
    cfg, sources = config_mod.resolve_with_sources(Config(**kw))
    for key, value in preset.values.items():
        assert _norm(_resolved_value(cfg, key)) == _norm(value), key
        shown = sources["lr_g"] if key == "lr" else sources[key]
        assert shown == ("flag" if key in kw else f"{kind} {name} preset [{preset.source}]"), key


def test_a_flag_overrides_every_preset_value():
    for kind, name, preset in DECLARED:
        kw = _config_for(kind, name, preset)
        if "steps" in preset.values:
            cfg, sources = config_mod.resolve_with_sources(Config(**kw, steps=7))
            assert cfg.steps == 7 and sources["steps"] == "flag", (kind, name)
        if "batch_size" in preset.values:
            cfg = config_mod.resolve(Config(**kw, batch_size=3))
            assert cfg.batch_size == 3, (kind, name)


def test_ring_default_is_the_toy_recipe_and_flags_win_one_by_one():
    cfg = config_mod.resolve(Config(data="ring"))
    assert (cfg.model, cfg.loss, cfg.recipe) == ("mlp", "ns", "plain")
    assert (cfg.steps, cfg.batch_size, cfg.lr_g, cfg.lr_d) == (6000, 256, 1e-3, 1e-3)
    assert (cfg.lr_schedule, cfg.decay_start, cfg.penalties) == ("linear-decay", 0.3, {"gp": 0.1})
    # One flag changes one key; the others keep the preset's values.
    cfg = config_mod.resolve(Config(data="ring", lr_g=5e-4, penalties={}, steps=100))
    assert (cfg.lr_g, cfg.lr_d, cfg.penalties, cfg.steps) == (5e-4, 1e-3, {}, 100)
    assert cfg.lr_schedule == "linear-decay"
    # An explicit value equal to the base default still wins over the preset.
    assert config_mod.resolve(Config(data="ring", steps=3000)).steps == 3000


def test_a_preset_tuned_for_one_objective_leaves_another_to_its_defaults():
    cfg = config_mod.resolve(Config(data="grid", loss="wgan-gp"))
    assert cfg.model == "mlp" and cfg.n_critic == 5 and cfg.penalties == {"gp": 10.0}
    assert cfg.lr_g == 1e-4 and cfg.steps == presets.BASE["steps"] and cfg.lr_schedule == "constant"


def test_image_data_picks_the_image_model():
    for data in ("stacked-mnist", "cifar10", "folder:/nonexistent"):
        cfg = config_mod.resolve(Config(data=data))
        assert (cfg.model, cfg.loss, cfg.batch_size) == ("dcgan", "ns", 64), data
    # 28x28 grayscale: Lucic et al.'s networks with InfoGAN's optimizer, 14 minutes
    for data in ("mnist", "fashion-mnist"):
        cfg = config_mod.resolve(Config(data=data))
        assert (cfg.model, cfg.loss, cfg.batch_size, cfg.lr_g, cfg.lr_d) == (
            "lucic",
            "ns",
            128,
            1e-3,
            2e-4,
        ), data
        assert (cfg.max_wall_s, cfg.lr_schedule) == (840.0, "linear-decay")
    # asking for DCGAN on MNIST gives DCGAN's own tuned preset, not the fallback
    cfg = config_mod.resolve(Config(data="mnist", model="dcgan"))
    assert (cfg.batch_size, cfg.steps, cfg.lr_schedule, cfg.lr_g) == (64, 8000, "linear-decay", 2e-4)
    # other objectives on MNIST: still the image model, with their own optimizer defaults
    cfg = config_mod.resolve(Config(data="mnist", loss="hinge"))
    assert cfg.model == "dcgan" and cfg.steps == presets.BASE["steps"]
    # BEGAN needs its autoencoder D; InfoGAN its paper's networks; ProGAN sizes by doubling
    began = config_mod.resolve(Config(data="mnist", loss="began"))
    assert began.model == "began" and began.data_args["image_size"] == 32 and began.loss_args["gamma"] == 1.0
    assert began.batch_size == 16  # the began model's preset, below the dataset's
    info = config_mod.resolve(Config(data="mnist", recipe="infogan"))
    assert (info.model, info.batch_size, info.lr_g, info.lr_d) == ("lucic", 128, 1e-3, 2e-4)
    pro = config_mod.resolve(Config(data="mnist", recipe="progressive"))
    assert (pro.model, pro.loss, pro.data_args["image_size"], pro.n_critic) == ("progan", "wgan-gp", 32, 1)
    # an explicit model wins over the dataset's pick
    assert config_mod.resolve(Config(data="mnist", model="mlp")).model == "mlp"


def test_layer_order_dataset_over_recipe_over_model_over_objective():
    # The began model preset says batch 16; a dataset preset naming batch_size would win; the
    # flag wins over both.
    _, sources = config_mod.resolve_with_sources(Config(data="mnist", loss="began"))
    assert sources["batch_size"].startswith("model began preset")
    assert sources["max_wall_s"].startswith("data mnist preset")
    assert sources["lr_g"] == "objective began defaults"
    assert sources["ema"] == "base default"
    assert sources["model"].startswith("data mnist preset")
    # dataset (batch 64) over model: dcgan's own preset also says 64, the dataset's is shown
    _, sources = config_mod.resolve_with_sources(Config(data="mnist"))
    assert sources["batch_size"].startswith("data mnist preset")


def test_a_preset_key_that_is_not_settable_is_refused():
    with pytest.raises(RuntimeError, match="not settable"):
        Preset({"seed": 3}, "x")
    with pytest.raises(RuntimeError, match="provenance"):
        Preset({"steps": 3}, "")


def test_conditions_match_unset_choices_and_tuples():
    p = Preset({"steps": 1}, "x", {"loss": "ns", "recipe": ("plain", "infogan")})
    assert p.holds({"loss": None, "recipe": "plain"})
    assert p.holds({"loss": "ns", "recipe": "infogan"})
    assert not p.holds({"loss": "hinge", "recipe": "plain"})
    assert not p.holds({"loss": "ns", "recipe": "cyclegan"})


def test_dry_run_prints_provenance_and_list_shows_presets(capsys, tmp_path):
    assert main(["train", "--data", "ring", "--lr-g", "5e-4", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    out = capsys.readouterr()
    cfg = json.loads(out.out)  # stdout stays a config that --config accepts
    assert cfg["steps"] == 6000 and cfg["lr_g"] == 5e-4
    lines = {line.split()[0]: line for line in out.err.splitlines()[1:]}
    assert "6000" in lines["steps"] and "data ring preset [" in lines["steps"]
    assert lines["lr_g"].endswith("<- flag")
    assert lines["betas"].endswith("<- objective ns defaults")
    assert main(["list", "data"]) == 0
    listing = capsys.readouterr().out
    assert "preset: model=mlp, loss=ns, lr=0.001" in listing


@pytest.mark.parametrize("data", ["25gaussians", "grid"])
def test_grid_sets_default_to_r3gans_loss_in_the_budget_and_ns_stays_one_flag_away(data):
    cfg, sources = config_mod.resolve_with_sources(Config(data=data))
    assert (cfg.loss, cfg.steps, cfg.max_wall_s, tuple(cfg.betas), cfg.penalties) == (
        "rpgan",
        10000,  # an upper bound: the 110 s budget fits the steps (about 4,000-4,500 here)
        110.0,
        (0.0, 0.99),
        {"r1": 0.1, "r2": 0.1},
    )
    assert sources["loss"].startswith(f"data {data} preset") and "defaults_grid_rpgan.json" in sources["loss"]
    assert sources["max_wall_s"] == sources["loss"]
    ns = config_mod.resolve(Config(data=data, loss="ns"))
    assert (ns.steps, ns.penalties, ns.decay_start, ns.max_wall_s) == (6000, {"gp": 0.1}, 0.3, 0.0)
    # on the other toy sets ns stays the default, R3GAN's recipe is there when asked for
    assert config_mod.resolve(Config(data="ring")).loss == "ns"
    assert config_mod.resolve(Config(data="ring", loss="rpgan")).penalties == {"r1": 0.1, "r2": 0.1}


def test_a_recipe_without_data_trains_on_its_own_data_and_a_flag_wins():
    cfg, sources = config_mod.resolve_with_sources(Config(recipe="cyclegan"))
    assert cfg.data == "mnist2inverted" and sources["data"].startswith("recipe cyclegan preset [")
    assert (cfg.model, cfg.loss, cfg.batch_size) == ("cyclegan", "lsgan", 16)
    cfg, sources = config_mod.resolve_with_sources(Config(recipe="cyclegan", data="unpaired:/x"))
    assert cfg.data == "unpaired:/x" and sources["data"] == "flag"
    for recipe in ("infogan", "progressive"):  # measured on MNIST
        cfg, sources = config_mod.resolve_with_sources(Config(recipe=recipe))
        assert cfg.data == "mnist" and sources["data"].startswith(f"recipe {recipe} preset [")
    # a recipe that names no data, and no recipe at all: the base default
    for kw in ({"recipe": "plain"}, {}):
        cfg, sources = config_mod.resolve_with_sources(Config(**kw))
        assert cfg.data == presets.BASE_DATA == "8gaussians" and sources["data"] == "base default"


def test_only_recipe_presets_name_their_data():
    """A preset's ``data`` picks the data of a run that names none; only a recipe may declare it
    (the dataset is already chosen when the other layers' presets are read)."""
    naming = [(kind, name) for kind, name, preset in DECLARED if "data" in preset.values]
    assert naming and all(kind == "recipe" for kind, _ in naming)
    assert {name for _, name in naming} == {"cyclegan", "infogan", "progressive"}
