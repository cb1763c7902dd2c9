"""Networks and loss hooks of the plain recipe for the chosen :class:`TrickOptions`."""

from __future__ import annotations

import dataclasses

from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, build_networks
from gankit.tricks.game import Tricks
from gankit.tricks.layers import (
    BatchStatsD,
    MinibatchDiscrimination,
    MinibatchStdFeature,
    PackedD,
    VBNGenerator,
    replace_batchnorm,
)
from gankit.tricks.options import TrickOptions


def _need_body(D: nn.Module, model: str, option: str) -> None:
    if not (hasattr(D, "features") and hasattr(D, "head") and getattr(D, "feature_dim", 0)):
        raise ConfigError(
            f"recipe.{option} needs a discriminator with a feature body (features/head); "
            f"model {model!r} has none: use mlp, dcgan or lucic"
        )


def build_with_tricks(cfg, spec: ModelSpec, opts: TrickOptions) -> tuple[nn.Module, nn.Module, Tricks | None]:
    """(G, D, tricks): ``cfg.model``'s networks for ``spec`` wrapped as ``opts`` asks, and the
    loss hooks (None when no loss changes)."""
    nets = build_networks(cfg.model, spec, cfg.model_args)
    G, D = nets["G"], nets["D"]
    m = opts.pack
    if m > 1:
        if cfg.batch_size % m:
            raise ConfigError(
                f"recipe.pack={m} needs a batch size divisible by {m}; batch_size={cfg.batch_size} "
                f"is not (use e.g. {cfg.batch_size - cfg.batch_size % m or m})"
            )
        if spec.num_classes:
            raise ConfigError(
                "recipe.pack does not combine with recipe.conditional (a pack has no single label)"
            )
        shape = tuple(spec.sample_shape)
        packed = dataclasses.replace(spec, sample_shape=(m * shape[0], *shape[1:]))
        D = build_networks(cfg.model, packed, cfg.model_args)["D"]  # built for the packed input
    feature_dim = getattr(D, "feature_dim", 0)
    for option, on in (
        ("feature_matching", opts.feature_matching != "off"),
        ("minibatch_disc", opts.minibatch_disc),
        ("mbstd", opts.mbstd),
    ):
        if on:
            _need_body(D, cfg.model, option)
    if opts.minibatch_disc:
        D = BatchStatsD(
            D, MinibatchDiscrimination(feature_dim, opts.minibatch_disc, opts.mbd_dims), opts.minibatch_disc
        )
    if opts.mbstd:
        D = BatchStatsD(D, MinibatchStdFeature(opts.mbstd), 1)
    if m > 1:
        D = PackedD(D, m)
    if opts.vbn:
        if not replace_batchnorm(G):
            raise ConfigError(
                f"recipe.vbn replaces G's batch norm layers but the generator of model {cfg.model!r} has none; "
                "set model.g_norm=batch"
            )
        G = VBNGenerator(G, opts.vbn, spec.num_classes)
    tricks = None
    if opts.game_hooks():
        params = {"G": list(G.parameters()), "D": list(D.parameters())}
        tricks = Tricks(opts, params, cfg.lr_d, feature_dim, cfg.betas)
    return G, D, tricks
