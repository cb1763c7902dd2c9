"""Image metrics: generated images -> features of a shipped classifier -> the pure metrics.

``evaluate_images(dataset_name, fake, real)`` is what image datasets call from ``evaluate``.
Names carry the feature extractor (``fid_lenet``, never plain "fid"); every result holds
``n_fake``, ``n_real`` and ``reference_split``, the samples each number rests on.

Datasets with a shipped classifier: ``mnist`` and ``fashion-mnist`` (one grayscale channel)
and ``stacked-mnist`` (each of the three channels classified by the MNIST LeNet; features are
the three channels' features side by side, 384-d). For other datasets (``cifar10``, folders)
no LeNet metric is meaningful: they get ``kid_pixels16``, KID on the pixels of 16 x 16
average-pooled images (:func:`pixel_metrics`), which needs no trained network; Inception
features (clean-fid protocol, weights installed with the ``inception`` extra) are in
:func:`inception_features` and :mod:`gankit.metrics.inception`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import torch
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.metrics.distances import (
    classifier_score,
    density_coverage,
    frechet_distance,
    histogram_kl_to_uniform,
    kernel_distance,
    precision_recall,
)
from gankit.metrics.features import extract, load_classifier
from gankit.metrics.inception import InceptionUnavailable  # noqa: F401  (raised by inception_features)

GRAYSCALE = ("mnist", "fashion-mnist")
NUM_CLASSES = 10


class _FeatureCache:
    """The last few real reference sets' (features, probs), keyed by a hash of the images."""

    def __init__(self, size: int = 4):
        self.size = size
        self.entries: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, name: str, x: torch.Tensor, compute):
        x = x.detach().cpu().contiguous()
        key = (
            name,
            tuple(x.shape),
            str(x.dtype),
            hashlib.blake2b(x.numpy().tobytes(), digest_size=16).hexdigest(),
        )
        if key not in self.entries:
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = compute(x)
        return self.entries[key]


_REAL_FEATURES = _FeatureCache()


def lenet_features(dataset_name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) in [-1, 1] -> (features (N, 128*C), class probs (N, C, 10)) float64.

    Each channel is classified separately (C = 1 for MNIST / Fashion-MNIST, 3 for stacked-mnist).
    """
    model = load_classifier("fashion-mnist" if dataset_name == "fashion-mnist" else "mnist")
    if x.dim() == 3:
        x = x.unsqueeze(1)
    feats, probs = zip(*(extract(model, x[:, c : c + 1]) for c in range(x.shape[1])), strict=True)
    return torch.cat(feats, dim=1), torch.stack(probs, dim=1)


def _safe(fn, *args, **kwargs):
    """A metric's value, or None when the samples are too few for it (e.g. n <= k) or FID's
    matrix square root fails (rank-deficient covariances of a collapsed generator)."""
    try:
        return fn(*args, **kwargs)
    except (GankitError, ValueError):
        return None


def feature_metrics(
    real: torch.Tensor, fake: torch.Tensor, suffix: str, kid_subsets: int = 100
) -> dict[str, float]:
    """fid/kid/precision/recall/density/coverage between feature sets, named ``<metric>_<suffix>``."""
    nan = float("nan")
    out: dict[str, float] = {}
    fid = _safe(frechet_distance, real, fake)
    out[f"fid_{suffix}"] = nan if fid is None else fid
    kid = _safe(kernel_distance, real, fake, subsets=kid_subsets)
    out[f"kid_{suffix}"], out[f"kid_{suffix}_std"] = (nan, nan) if kid is None else kid
    pr = _safe(precision_recall, real, fake, k=3)
    out[f"precision_{suffix}"], out[f"recall_{suffix}"] = (nan, nan) if pr is None else pr
    dc = _safe(density_coverage, real, fake, k=5)
    out[f"density_{suffix}"], out[f"coverage_{suffix}"] = (nan, nan) if dc is None else dc
    return out


def class_metrics(
    probs: torch.Tensor, labels: torch.Tensor | None = None, splits: int = 10
) -> dict[str, float]:
    """Classifier score, classes predicted at least once, KL(predicted histogram || uniform).

    ``probs`` (N, 10) softmax outputs; with ``labels`` (the classes a conditional generator was
    asked for) also the fraction of samples classified as their label.
    """
    pred = probs.argmax(dim=1)
    counts = torch.bincount(pred, minlength=probs.shape[1])
    score = _safe(classifier_score, probs, splits=min(splits, probs.shape[0]))
    out = {
        "classifier_score_lenet": float("nan") if score is None else score[0],
        "classifier_score_lenet_std": float("nan") if score is None else score[1],
        "class_coverage": int((counts > 0).sum()),
        "class_kl": histogram_kl_to_uniform(counts),
    }
    if labels is not None:
        out["class_accuracy_lenet"] = float((pred == labels.to(pred.device).long()).double().mean())
    return out


def stacked_modes(probs: torch.Tensor) -> dict[str, float]:
    """``probs`` (N, 3, 10) per-channel softmax -> modes covered out of 1,000 and KL to uniform.

    The mode of a sample is 100 d_R + 10 d_G + d_B from the per-channel predicted digits
    (Metz et al. 2017, sec. 3.2; Srivastava et al. 2017).
    """
    digits = probs.argmax(dim=2)  # (N, 3)
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(modes, minlength=1000)
    return {"modes_stacked": int((counts > 0).sum()), "kl_stacked": histogram_kl_to_uniform(counts)}


def evaluate_images(
    dataset_name: str,
    fake: torch.Tensor,
    real: torch.Tensor,
    labels: torch.Tensor | None = None,
    reference_split: str = "test",
    kid_subsets: int = 100,
) -> dict[str, Any]:
    """Metrics of generated images ``fake`` (N, C, H, W) in [-1, 1] against ``real`` (M, C, H, W).

    Returns ``n_fake``, ``n_real``, ``reference_split`` and, for datasets with a shipped
    classifier, the LeNet metrics listed in the module docstring. Metrics the sample counts do
    not allow (FID needs 2, precision/recall more than 3, density/coverage more than 5 per set)
    are NaN; non-finite generated images make every metric NaN.
    """
    out: dict[str, Any] = {
        "n_fake": int(fake.shape[0]),
        "n_real": int(real.shape[0]),
        "reference_split": reference_split,
    }
    if dataset_name not in (*GRAYSCALE, "stacked-mnist"):
        out.update(pixel_metrics(real, fake))
        return out
    fake = fake.detach().cpu()
    f_real, _ = _REAL_FEATURES.get(dataset_name, real, lambda x: lenet_features(dataset_name, x))
    finite = bool(torch.isfinite(fake).all())
    f_fake, p_fake = lenet_features(dataset_name, fake.nan_to_num(0.0) if not finite else fake)
    out.update(feature_metrics(f_real, f_fake, "lenet", kid_subsets=kid_subsets))
    if dataset_name == "stacked-mnist":
        out.update(stacked_modes(p_fake))
    else:
        out.update(class_metrics(p_fake[:, 0], labels))
    if not finite:
        out.update({k: math.nan for k in out if k not in ("n_fake", "n_real", "reference_split")})
    return out


PIXEL_SIZE = 16
PIXEL_KID_SUBSETS, PIXEL_KID_SUBSET_SIZE = 10, 500


def pixel_features(x: torch.Tensor, size: int = PIXEL_SIZE) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] -> (N, C * size * size): each averaged over blocks down to
    ``size`` x ``size`` (adaptive average pooling), flattened."""
    x = x.detach().cpu().float()
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return F.adaptive_avg_pool2d(x, size).flatten(1)


def pixel_metrics(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """``kid_pixels16`` (and its std over subsets): KID (Binkowski et al. 2018, the unbiased MMD^2
    with the cubic polynomial kernel) between 16 x 16 average-pooled pixels of ``real`` and
    ``fake``, for image data without a trained classifier (folders, CIFAR-10).

    The unbiased estimate is about 0 when the two sets come from one distribution, at any sample
    size, and grows as the distributions of coarse layout and colour part; it says nothing of
    fine detail or of what a person would call realistic. 10 subsets of 500 keep it near a
    second per evaluation on a CPU at 3 x 16 x 16 = 768 dimensions."""
    nan = float("nan")
    if not bool(torch.isfinite(fake).all()):
        return {"kid_pixels16": nan, "kid_pixels16_std": nan}
    kid = _safe(
        kernel_distance,
        pixel_features(real),
        pixel_features(fake),
        subsets=PIXEL_KID_SUBSETS,
        subset_size=PIXEL_KID_SUBSET_SIZE,
    )
    mean, std = (nan, nan) if kid is None else kid
    return {"kid_pixels16": mean, "kid_pixels16_std": std}


def real_data_floor(
    dataset_name: str = "mnist", data_dir: str | None = None, n: int = 10_000, kid_subsets: int = 100
) -> dict[str, Any]:
    """The LeNet metrics of ``n`` real test images (as if generated) against ``n`` training images.

    What a perfect generator would score with this sample count: the floor beside which to read
    a GAN's fid_lenet. Reads the dataset through ``gankit.data.images``.
    """
    from gankit.data.images import load_idx_split, to_float

    test_x, _ = load_idx_split(dataset_name, data_dir, "test")
    train_x, _ = load_idx_split(dataset_name, data_dir, "train")
    gen = torch.Generator().manual_seed(0)
    test = to_float(test_x[torch.randperm(len(test_x), generator=gen)[:n]].unsqueeze(1))
    train = to_float(train_x[torch.randperm(len(train_x), generator=gen)[:n]].unsqueeze(1))
    out = evaluate_images(dataset_name, test, train, reference_split="train", kid_subsets=kid_subsets)
    return out


# --- Inception features (the weights come with the ``inception`` extra) ----------------------
def inception_features(x: torch.Tensor, batch_size: int = 50, device=None) -> torch.Tensor:
    """Images (N, C, H, W) in [-1, 1] -> (N, 2048) float64 Inception pool features under the
    clean-fid protocol (:mod:`gankit.metrics.inception`). Raises
    :class:`~gankit.metrics.inception.InceptionUnavailable` with the install line when the
    weights are not installed."""
    from gankit.data.images import to_uint8
    from gankit.metrics import inception

    ext = inception.load_extractor(device)
    u8 = to_uint8(x.detach().cpu())
    return torch.from_numpy(inception.features(u8.split(batch_size), u8.shape[0], ext)).double()


def evaluate_inception(
    fake: torch.Tensor, real: torch.Tensor, reference_split: str = "test"
) -> dict[str, Any]:
    """fid/kid/precision/recall/density/coverage ``_inception`` (needs the ``inception`` extra)."""
    out: dict[str, Any] = {
        "n_fake": int(fake.shape[0]),
        "n_real": int(real.shape[0]),
        "reference_split": reference_split,
    }
    out.update(feature_metrics(inception_features(real), inception_features(fake), "inception"))
    return out
