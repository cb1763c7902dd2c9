"""Feature extractors for image metrics: small LeNet-style classifiers shipped with gankit.

One classifier per 28x28 grayscale dataset (``mnist``, ``fashion-mnist``), trained by
``scripts/train_classifier.py`` and stored in ``gankit/weights/lenet-<name>.safetensors``;
``gankit/weights/SHA256SUMS`` holds each file's checksum, verified on every load.

Inputs are images in [-1, 1] shaped (N, 1, 28, 28); 29 to 32 pixels square are centre-cropped
(the datasets pad 28 -> 32 with background, see ``gankit.data.images.fit_size``), other sizes
resized to 28x28 with antialiased bilinear interpolation. ``features(x)`` is the 128-d output
of the penultimate linear layer (before its ReLU), scaled by one constant so its standard
deviation over the training set is 1; ``logits(x)`` the 10 class logits.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import ConfigError, DataError, did_you_mean

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
CHECKSUMS = WEIGHTS_DIR / "SHA256SUMS"
CLASSIFIERS = ("mnist", "fashion-mnist")
FEATURE_DIM = 128
IMG_SIZE = 28


class LeNet(nn.Module):
    """conv5x5(16)-pool-conv5x5(32)-pool-fc128-fc10, for (N, 1, 28, 28) inputs in [-1, 1]."""

    def __init__(self, num_classes: int = 10, feature_dim: int = FEATURE_DIM, dropout: float = 0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # (N, 16, 28, 28) -> pool (N, 16, 14, 14)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)  # (N, 32, 14, 14) -> pool (N, 32, 7, 7)
        self.fc1 = nn.Linear(32 * 7 * 7, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(feature_dim, num_classes)
        # 1 / std of the training set's fc1 outputs, set by the training script, so that the
        # features have unit overall spread and KID's kernel (x.y/d + 1)^3 is not all cubic term
        self.register_buffer("feature_scale", torch.ones(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) in [-1, 1] -> (N, 128) penultimate pre-activations times feature_scale."""
        return self.fc1_out(x) * self.feature_scale

    def fc1_out(self, x: torch.Tensor) -> torch.Tensor:
        x = to_classifier_input(x)
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 16, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (N, 32, 7, 7)
        return self.fc1(h.flatten(1))  # (N, 128)

    def logits_from_features(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.relu(f / self.feature_scale)))  # (N, 10)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_features(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


def to_classifier_input(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) -> (N, 1, 28, 28) float: centre crop of 29-32 px, else resize."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ConfigError(
            f"the LeNet classifier takes grayscale images (N, 1, H, W), got shape {tuple(x.shape)}; "
            "classify each channel separately (stacked-mnist) or use a grayscale dataset"
        )
    x = x.float()
    h, w = x.shape[-2:]
    if h == w and IMG_SIZE < h <= IMG_SIZE + 4:  # the datasets pad 28 -> 32 with background
        lo = (h - IMG_SIZE) // 2
        return x[..., lo : lo + IMG_SIZE, lo : lo + IMG_SIZE]
    if (h, w) != (IMG_SIZE, IMG_SIZE):
        x = F.interpolate(x, size=(IMG_SIZE, IMG_SIZE), mode="bilinear", align_corners=False, antialias=True)
    return x


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"lenet-{name}.safetensors"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_sha256(name: str) -> str:
    """The checksum recorded for ``lenet-<name>.safetensors`` in SHA256SUMS."""
    target = weights_path(name).name
    if CHECKSUMS.exists():
        for line in CHECKSUMS.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("*") == target:
                return parts[0]
    raise DataError(
        f"no checksum for {target} in {CHECKSUMS}; reinstall gankit or rebuild the weights with "
        "scripts/train_classifier.py"
    )


@functools.cache
def load_classifier(name: str) -> LeNet:
    """The shipped classifier for dataset ``name`` in eval mode (cached; do not modify it)."""
    if name not in CLASSIFIERS:
        raise ConfigError(
            f"no shipped classifier for {name!r}{did_you_mean(name, CLASSIFIERS)}; choose one of: {', '.join(CLASSIFIERS)}"
        )
    from safetensors.torch import load_file

    path = weights_path(name)
    if not path.exists():
        raise DataError(
            f"classifier weights {path} are missing; reinstall gankit or run scripts/train_classifier.py"
        )
    want, got = expected_sha256(name), file_sha256(path)
    if got != want:
        raise DataError(f"{path} is corrupt: sha256 {got} differs from the recorded {want}; reinstall gankit")
    model = LeNet()
    model.load_state_dict(load_file(str(path)))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def extract(model: LeNet, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) images in [-1, 1] -> features (N, 128) float64 and softmax probs (N, 10) float64."""
    feats, probs = [], []
    for chunk in torch.split(x.detach().cpu(), batch_size):
        f = model.features(chunk)
        feats.append(f.double())
        probs.append(torch.softmax(model.logits_from_features(f).double(), dim=1))
    if not feats:
        return torch.zeros(0, FEATURE_DIM, dtype=torch.float64), torch.zeros(0, 10, dtype=torch.float64)
    return torch.cat(feats), torch.cat(probs)
