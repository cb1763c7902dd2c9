"""BEGAN's autoencoder discriminator and its decoder-shaped generator (Berthelot et al. 2017,
sec. 3.5, fig. 1).

Encoder: 3x3 convolutions with ELU, ``convs`` per resolution, a stride-2 convolution to go down
while the channels grow linearly (n, 2n, 3n, ...), then a dense bottleneck of ``h_dim``.
Decoder (and G, with its own weights): dense to n maps at the base size, then ``convs`` 3x3
convolutions with ELU and a nearest-neighbour upsampling per resolution, and a last 3x3
convolution to the image channels, with a linear output (``tanh`` option off). The base size is the image size halved while it stays even
and at least 4 (32 -> 4, 28 -> 7).

D(x) is the per-sample reconstruction energy L(x) = mean |x - AE(x)| (eq. 1 with eta = 1),
shape (N,), always >= 0: it pairs with objectives whose ``d_output`` is "energy" (``began``)
and is refused by the others (see :func:`gankit.nets.base.build_networks`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec
from gankit.presets import Preset


@dataclasses.dataclass
class BEGANOptions:
    width: int = 64  # n, channels of the first level (the paper uses 64 or 128)
    h_dim: int = 64  # bottleneck size of the autoencoder
    convs: int = 2  # 3x3 convolutions per resolution
    # G's output through tanh for data in [-1, 1]. Off by default: the paper's G is linear, and a
    # tanh G collapsed to the easily reconstructed background, saturated and stalled (measured on
    # MNIST with the PyTorch-default init: pre-tanh outputs near -6.5 after 1000 steps).
    tanh: bool = False
    # Weight initialization. "xavier": Glorot-uniform weights and zero biases, TensorFlow's default
    # that the paper's and the public reference implementations ran with. "torch": PyTorch's default
    # (kaiming-uniform with a = sqrt(5) and random biases), which shrinks the signal about 3x in
    # variance per layer: G(z) then hardly depends on z and AE(x) not at all on x, and the
    # generator collapses onto the autoencoder's constant output (docs/began_progan.md).
    init: str = "xavier"
    # The paper's optional skip connections (sec. 3.5): the first dense output h0 upsampled to each
    # resolution and concatenated to that resolution's input, in G and in D's decoder.
    skip: bool = False

    def check(self):
        if self.width < 1 or self.h_dim < 1 or self.convs < 1:
            raise ConfigError(
                f"began width={self.width}, h_dim={self.h_dim}, convs={self.convs} must be >= 1"
            )
        if self.init not in ("xavier", "torch"):
            raise ConfigError(f"began init={self.init!r}: allowed values are 'xavier' and 'torch'")


def base_size(size: int) -> tuple[int, int]:
    """(base, number of doublings) with base * 2^n = size: halve while even and the half is >= 4."""
    n = 0
    while size % 2 == 0 and size // 2 >= 4:
        size //= 2
        n += 1
    return size, n


def _image_shape(spec: ModelSpec) -> tuple[int, int, int]:
    shape = tuple(spec.sample_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"model began needs square images (C, H, H), got samples of shape {shape}")
    if spec.num_classes:
        raise ConfigError("model began is unconditional; drop recipe.conditional")
    return shape


def _convs(c_in: int, c_out: int, n: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ELU()]
    return layers


def init_weights(module: nn.Module, scheme: str) -> None:
    """``scheme`` "xavier": Glorot-uniform weights, zero biases on every conv and dense layer;
    "torch": leave PyTorch's defaults."""
    if scheme == "torch":
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


class Decoder(nn.Module):
    """h (N, h_dim) -> image (N, C, H, H).

    One block per resolution (``convs`` 3x3 convolutions with ELU), nearest-neighbour upsampling
    between blocks. With ``skip`` each block's input is concatenated with h0 (the dense output,
    (N, n, base, base)) upsampled to that block's resolution, so the block sees 2n channels.
    """

    def __init__(self, shape, opts: BEGANOptions, in_dim: int):
        super().__init__()
        c, size, _ = shape
        self.base, n_up = base_size(size)
        self.width, self.skip = opts.width, opts.skip
        n, n_in = opts.width, 2 * opts.width if opts.skip else opts.width
        self.dense = nn.Linear(in_dim, n * self.base * self.base)
        self.blocks = nn.ModuleList(nn.Sequential(*_convs(n_in, n, opts.convs)) for _ in range(n_up + 1))
        self.to_image = nn.Conv2d(n, c, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h0 = self.dense(h).view(h.shape[0], self.width, self.base, self.base)  # (N, n, base, base)
        x = h0
        for i, block in enumerate(self.blocks):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            if self.skip:
                x = torch.cat([x, F.interpolate(h0, size=x.shape[-2:], mode="nearest")], 1)
            x = block(x)
        return self.to_image(x)


class Encoder(nn.Module):
    """image (N, C, H, H) -> h (N, h_dim)."""

    def __init__(self, shape, opts: BEGANOptions):
        super().__init__()
        c, size, _ = shape
        base, n_down = base_size(size)
        n = opts.width
        layers: list[nn.Module] = [nn.Conv2d(c, n, 3, padding=1), nn.ELU()]
        for i in range(n_down):
            layers += [
                *_convs(n * (i + 1), n * (i + 1), opts.convs),
                nn.Conv2d(n * (i + 1), n * (i + 2), 3, stride=2, padding=1),
                nn.ELU(),
            ]
        layers += _convs(n * (n_down + 1), n * (n_down + 1), opts.convs)
        self.body = nn.Sequential(*layers)
        self.dense = nn.Linear(n * (n_down + 1) * base * base, opts.h_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.body(x).flatten(1))


class BEGANDiscriminator(nn.Module):
    """Autoencoder; ``D(x)`` is the reconstruction energy mean |x - AE(x)| per sample, (N,)."""

    d_output = "energy"

    def __init__(self, spec: ModelSpec, opts: BEGANOptions):
        super().__init__()
        shape = _image_shape(spec)
        self.encoder = Encoder(shape, opts)
        self.decoder = Decoder(shape, opts, opts.h_dim)
        self.feature_dim = opts.h_dim
        init_weights(self, opts.init)

    def features(self, x: torch.Tensor, y=None) -> torch.Tensor:
        """The bottleneck code (N, h_dim)."""
        return self.encoder(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """AE(x), same shape as x."""
        return self.decoder(self.encoder(x))

    def forward(self, x: torch.Tensor, y=None) -> torch.Tensor:
        return (x - self.reconstruct(x)).abs().flatten(1).mean(1)  # (N,)


class BEGANGenerator(nn.Module):
    """z (N, z_dim) -> image, the decoder's architecture with its own weights."""

    def __init__(self, spec: ModelSpec, opts: BEGANOptions):
        super().__init__()
        self.z_dim = spec.z_dim
        self.bounded = spec.bounded and opts.tanh
        self.decoder = Decoder(_image_shape(spec), opts, spec.z_dim)
        init_weights(self, opts.init)

    def forward(self, z: torch.Tensor, y=None) -> torch.Tensor:
        x = self.decoder(z)
        return torch.tanh(x) if self.bounded else x


@MODELS.register(
    "began",
    options=BEGANOptions,
    # CPU-sized (benchmarks/began_progan.py): n 16, one conv per resolution, bottleneck 32,
    # the paper's batch 16 and Adam 1e-4.
    presets=Preset(
        {"model.width": 16, "model.h_dim": 32, "model.convs": 1, "batch_size": 16},
        "docs/began_progan.md, CPU-sized BEGAN (benchmarks/began_progan.py BEGAN_CPU)",
    ),
)
def build_began(spec: ModelSpec, opts: BEGANOptions) -> dict[str, nn.Module]:
    """BEGAN: autoencoder D (output: reconstruction energy) and a decoder-shaped G."""
    return {"G": BEGANGenerator(spec, opts), "D": BEGANDiscriminator(spec, opts)}
