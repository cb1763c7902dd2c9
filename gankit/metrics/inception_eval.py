"""Inception FID/KID between two sides, and for a run (``gankit eval --metrics inception``,
training with ``inception_every``). The math is :mod:`gankit.metrics.distances`; features and
the protocol are :mod:`gankit.metrics.inception`."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.errors import ConfigError
from gankit.metrics import inception
from gankit.metrics.distances import frechet_distance_from_stats, gaussian_stats, kernel_distance

KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torch-fidelity's defaults


def fid_kid(a, b) -> dict[str, Any]:
    """FID (pytorch-fid's formula) and KID (torch-fidelity's estimator, 100 subsets of at most
    1,000) between ``a`` and ``b``: each a feature matrix (N, D) or a (mu, sigma) pair. KID
    needs features on both sides; with statistics it is None."""
    stats = [x if isinstance(x, tuple) else gaussian_stats(x) for x in (a, b)]
    out: dict[str, Any] = {"fid_inception": frechet_distance_from_stats(*stats[0], *stats[1])}
    if isinstance(a, tuple) or isinstance(b, tuple):
        out["kid_inception"] = out["kid_inception_std"] = None
    else:
        kid, std = kernel_distance(a, b, subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE)
        out["kid_inception"], out["kid_inception_std"] = kid, std
    return out


def reference_images(dataset, n: int) -> torch.Tensor:
    """uint8 (m, C, H, W): ``n`` images (at most the split's size) of a dataset's reference split,
    as the run sees them (its image size), in the dataset's seeded order."""
    from gankit.data.images import to_uint8

    available = getattr(dataset, "ref_x", None)
    m = n if available is None else min(n, int(available.shape[0]))
    return to_uint8(dataset.reference(m).x)


def run_metrics(trainer, n: int, extractor=None, batch_size: int = 50, progress: bool = False) -> dict:
    """fid/kid/precision/recall/density/coverage ``_inception`` of ``n`` samples from the run's
    fixed evaluation noise against its dataset's reference split (features cached on disk)."""
    from gankit.data.images import to_uint8
    from gankit.metrics.images import feature_metrics
    from gankit.recipes.base import Recipe

    ds = trainer.dataset
    if getattr(ds, "kind", None) != "images" or type(trainer.recipe).evaluate is not Recipe.evaluate:
        raise ConfigError(f"Inception metrics need samples of an image dataset; run on {trainer.cfg.data}")
    ext = extractor or inception.load_extractor(trainer.device)
    real = reference_images(ds, n)
    split = getattr(ds, "reference_split", "test")
    path = inception.cache_path(
        f"{trainer.cfg.data}", f"{split}-reference", real.shape[0], ext.name, inception.content_key(real)
    )
    f_real = inception.cached_features(
        path, lambda: inception.features(real.split(batch_size), real.shape[0], ext, progress, "real")
    )
    fake, _ = trainer.generate(n)
    if not torch.isfinite(fake).all():
        return {"fid_inception": float("nan"), "kid_inception": float("nan"), "n_inception": n}
    f_fake = inception.features(to_uint8(fake).split(batch_size), n, ext, progress, "generated")
    out = feature_metrics(f_real, f_fake, "inception", kid_subsets=KID_SUBSETS)
    out["n_real_inception"], out["n_inception"] = int(f_real.shape[0]), n
    return out


def training_metrics(trainer) -> dict:
    """What the loop logs with ``inception_every``: nothing at step 0 beyond checking that the
    weights load (so a missing install stops the run before training), then the metrics at
    every evaluation whose step is a multiple of ``inception_every``, and at the last step."""
    cfg, step = trainer.cfg, trainer.state.step
    ext = inception.load_extractor(trainer.device)
    if step == 0 or (step % cfg.inception_every and step < cfg.steps):
        return {}
    return run_metrics(trainer, cfg.n_inception or cfg.n_eval, extractor=ext)


def save_stats(path, feats: np.ndarray, network: str) -> None:
    """``mu``, ``sigma`` (pytorch-fid's names), ``n`` and the protocol, as an .npz."""
    mu, sigma = gaussian_stats(feats)
    np.savez(path, mu=mu, sigma=sigma, n=feats.shape[0], protocol=inception.PROTOCOL, network=network)
