"""Convolutional GANs for square images: DCGAN (Radford et al. 2016) and the architecture of
the Lucic et al. 2018 study ("Are GANs Created Equal?", the InfoGAN-style MNIST networks).

DCGAN, for an image side ``S = b * 2**k`` with a base ``b`` of 4 (or 7, so 28 = 7 * 4 works)
and ``k >= 2`` doublings:

- G: z -> ConvTranspose(b x b) -> k x [ConvTranspose 4x4 stride 2], channels halving from
  ``width * 2**(k-1)`` to ``width``, then to the image's channels; norm + ReLU between, tanh
  at the end (bounded data).
- D: the mirror: k x [Conv 4x4 stride 2], channels doubling from ``width`` (no norm on the
  first layer, as in the paper), leaky ReLU; the last b x b map is flattened into the
  features and a linear head gives one output (the PyTorch example's final b x b conv).

Conditional (``spec.num_classes > 0``): G concatenates a label embedding to z; D adds a
projection term <embed(y), features> (Miyato & Koyama 2018, eq. 3), or with the option
``cond_d=concat`` sees the one-hot label as extra input channels.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.nets.base import MODELS, ModelSpec
from gankit.nets.conditioning import check_cond_d, concat_label
from gankit.presets import Preset

DCGAN_BATCH_ROW = "benchmarks/results/dcgan_mnist_*.json (batch 64)"

NORMS = ("batch", "layer", "none")
BASES = (4, 7)
MAX_SIZE = 1024


def allowed_sizes() -> list[int]:
    """Image sides DCGAN can produce: b * 2**k for b in (4, 7), k >= 2, up to MAX_SIZE."""
    return sorted({b * 2**k for b in BASES for k in range(2, 12) if b * 2**k <= MAX_SIZE})


def image_spec(spec: ModelSpec, model: str) -> tuple[int, int]:
    """(channels, side) of ``spec``'s square images, or a ConfigError naming what is needed."""
    shape = tuple(spec.sample_shape)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(
            f"model {model} makes square images (C, H, W); this dataset's samples have shape {shape}; "
            "use an image dataset or model mlp"
        )
    return shape[0], shape[1]


def base_and_doublings(size: int) -> tuple[int, int]:
    for b in BASES:
        k = 0
        while b * 2**k < size:
            k += 1
        if b * 2**k == size and k >= 2 and size <= MAX_SIZE:
            return b, k
    raise ConfigError(
        f"model dcgan cannot make {size}x{size} images; allowed sizes: "
        f"{', '.join(map(str, allowed_sizes()))} (set the dataset's image_size)"
    )


def norm2d(kind: str, channels: int) -> list[nn.Module]:
    """Batch norm, layer norm over (C, H, W) (GroupNorm with one group), or nothing."""
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":
        return [nn.GroupNorm(1, channels)]
    return []


def norm1d(kind: str, features: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm1d(features)]
    if kind == "layer":
        return [nn.LayerNorm(features)]
    return []


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights N(0, 0.02); norm scales N(1, 0.02); biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm))
            and m.weight is not None
        ):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def check_norms_and_slope(opts) -> None:
    for key in ("g_norm", "d_norm"):
        if getattr(opts, key) not in NORMS:
            raise ConfigError(f"{key}={getattr(opts, key)!r}; choose one of: {', '.join(NORMS)}")
    if not 0 <= opts.slope < 1:
        raise ConfigError(f"slope={opts.slope}; allowed: a number in [0, 1)")
    check_cond_d(opts.cond_d)


@dataclasses.dataclass
class DCGANOptions:
    width: int = 64  # channels of D's first layer and G's last hidden layer (ndf = ngf)
    d_width: int = 0  # D's first-layer channels when not width (PacGAN table 3: width / 4, width / 2)
    g_norm: str = "batch"  # batch | layer | none
    d_norm: str = "batch"  # batch | layer | none (use layer or none with gradient penalties)
    slope: float = 0.2  # D's leaky ReLU slope
    init: str = "dcgan"  # dcgan: N(0, 0.02) weights; default: PyTorch's
    cond_d: str = "projection"  # conditional D: projection | concat (one-hot label channels)

    def check(self):
        check_norms_and_slope(self)
        if self.width < 1 or self.d_width < 0:
            raise ConfigError(
                f"width={self.width}, d_width={self.d_width}; allowed: width >= 1, d_width >= 0 (0: width)"
            )
        if self.init not in ("dcgan", "default"):
            raise ConfigError(f"init={self.init!r}; choose dcgan or default")


class ConditionalInput(nn.Module):
    """z (N, z_dim) -> cat(z, embed(y)) (N, 2 z_dim) when conditional, else z."""

    def __init__(self, z_dim: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.out_dim = z_dim * (2 if num_classes else 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is None:
            return z
        if y is None:
            raise ValueError("this generator is conditional: pass labels y")
        return torch.cat([z, self.embed(y)], dim=1)


class ProjectionHead(nn.Module):
    """features (N, F) -> (N,): w^T h + b, plus <embed(y), h> when conditional."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.linear = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim) if num_classes else None

    def forward(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.linear(h).squeeze(1)
        if self.embed is not None and y is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


class ImageDiscriminator(nn.Module):
    """Shared contract: ``features`` (body), ``head`` (projection), ``forward`` = head(features).

    ``concat_classes`` > 0 (``cond_d=concat``): the body sees the one-hot label as extra channels.
    """

    body: nn.Module
    proj: ProjectionHead
    concat_classes: int = 0

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.concat_classes:
            x = concat_label(x, y, self.concat_classes)  # (N, C + K, H, W)
        return self.body(x)  # (N, F)

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(h, y)  # (N,)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y), y)


class DCGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec, opts: DCGANOptions):
        super().__init__()
        channels, size = image_spec(spec, "dcgan")
        base, k = base_and_doublings(size)
        self.z_dim = spec.z_dim
        self.input = ConditionalInput(spec.z_dim, spec.num_classes)
        c = opts.width * 2 ** (k - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(self.input.out_dim, c, base, 1, 0, bias=opts.g_norm == "none"),
            *norm2d(opts.g_norm, c),
            nn.ReLU(True),
        ]  # (N, c, base, base)
        for i in range(k):
            last = i == k - 1
            c_out = channels if last else c // 2
            layers.append(nn.ConvTranspose2d(c, c_out, 4, 2, 1, bias=last or opts.g_norm == "none"))
            if not last:
                layers += [*norm2d(opts.g_norm, c_out), nn.ReLU(True)]
            c = c_out
        self.net = nn.Sequential(*layers)
        self.out = nn.Tanh() if spec.bounded else nn.Identity()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input(z, y)  # (N, z_dim [+ z_dim])
        return self.out(self.net(h[:, :, None, None]))  # (N, C, S, S)


class DCGANDiscriminator(ImageDiscriminator):
    def __init__(self, spec: ModelSpec, opts: DCGANOptions):
        super().__init__()
        channels, size = image_spec(spec, "dcgan")
        base, k = base_and_doublings(size)
        layers: list[nn.Module] = []
        self.concat_classes = spec.num_classes if opts.cond_d == "concat" else 0
        c_in, c = channels + self.concat_classes, opts.d_width or opts.width
        for i in range(k):
            norm = norm2d(opts.d_norm, c) if i > 0 else []
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=not norm), *norm, nn.LeakyReLU(opts.slope, True)]
            c_in, c = c, c * 2
        layers.append(nn.Flatten())  # (N, c_in * base * base)
        self.body = nn.Sequential(*layers)
        self.feature_dim = c_in * base * base
        self.proj = ProjectionHead(self.feature_dim, 0 if self.concat_classes else spec.num_classes)


@MODELS.register("dcgan", options=DCGANOptions, presets=Preset({"batch_size": 64}, DCGAN_BATCH_ROW))
def build_dcgan(spec: ModelSpec, opts: DCGANOptions) -> dict[str, nn.Module]:
    """DCGAN (Radford et al. 2016) for square images of side 4*2^k or 7*2^k (28, 32, 64, ...)."""
    nets = {"G": DCGANGenerator(spec, opts), "D": DCGANDiscriminator(spec, opts)}
    if opts.init == "dcgan":
        for net in nets.values():
            dcgan_init(net)
    return nets


# --- the Lucic et al. 2018 preset ---------------------------------------------------------------
@dataclasses.dataclass
class LucicOptions:
    g_norm: str = "batch"  # batch | layer | none
    d_norm: str = "batch"  # batch | layer | none (the study drops it for WGAN-GP)
    slope: float = 0.2  # D's leaky ReLU slope
    cond_d: str = "projection"  # conditional D: projection | concat (one-hot label channels)

    check = check_norms_and_slope


LUCIC_SIZES = (28, 32)


def _lucic_size(spec: ModelSpec) -> tuple[int, int]:
    channels, size = image_spec(spec, "lucic")
    if size not in LUCIC_SIZES:
        raise ConfigError(
            f"model lucic cannot make {size}x{size} images; allowed sizes: "
            f"{', '.join(map(str, LUCIC_SIZES))} (use model dcgan for others)"
        )
    return channels, size


class LucicGenerator(nn.Module):
    """z -> fc1024 -> fc(128 * s/4 * s/4) -> deconv 4x4/2 (64) -> deconv 4x4/2 (C)."""

    def __init__(self, spec: ModelSpec, opts: LucicOptions):
        super().__init__()
        channels, size = _lucic_size(spec)
        self.z_dim = spec.z_dim
        self.input = ConditionalInput(spec.z_dim, spec.num_classes)
        self.q = size // 4
        self.fc = nn.Sequential(
            nn.Linear(self.input.out_dim, 1024),
            *norm1d(opts.g_norm, 1024),
            nn.ReLU(True),
            nn.Linear(1024, 128 * self.q * self.q),
            *norm1d(opts.g_norm, 128 * self.q * self.q),
            nn.ReLU(True),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1),
            *norm2d(opts.g_norm, 64),
            nn.ReLU(True),
            nn.ConvTranspose2d(64, channels, 4, 2, 1),
        )
        self.out = nn.Tanh() if spec.bounded else nn.Identity()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(self.input(z, y)).view(z.shape[0], 128, self.q, self.q)  # (N, 128, S/4, S/4)
        return self.out(self.deconv(h))  # (N, C, S, S)


class LucicDiscriminator(ImageDiscriminator):
    """x -> conv 4x4/2 (64) -> conv 4x4/2 (128) -> fc1024 -> features; head -> (N,)."""

    def __init__(self, spec: ModelSpec, opts: LucicOptions):
        super().__init__()
        channels, size = _lucic_size(spec)
        q = size // 4
        self.concat_classes = spec.num_classes if opts.cond_d == "concat" else 0
        self.body = nn.Sequential(
            nn.Conv2d(channels + self.concat_classes, 64, 4, 2, 1),
            nn.LeakyReLU(opts.slope, True),
            nn.Conv2d(64, 128, 4, 2, 1),
            *norm2d(opts.d_norm, 128),
            nn.LeakyReLU(opts.slope, True),
            nn.Flatten(),
            nn.Linear(128 * q * q, 1024),
            *norm1d(opts.d_norm, 1024),
            nn.LeakyReLU(opts.slope, True),
        )
        self.feature_dim = 1024
        self.proj = ProjectionHead(1024, 0 if self.concat_classes else spec.num_classes)


@MODELS.register("lucic", options=LucicOptions)
def build_lucic(spec: ModelSpec, opts: LucicOptions) -> dict[str, nn.Module]:
    """The Lucic et al. 2018 MNIST architecture (D conv64-conv128-fc1024, G fc1024-fc-deconv64)."""
    nets = {"G": LucicGenerator(spec, opts), "D": LucicDiscriminator(spec, opts)}
    for net in nets.values():
        dcgan_init(net)
    return nets
