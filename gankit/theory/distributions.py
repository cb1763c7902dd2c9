"""Distributions with known densities: torch ``log_prob`` and ``sample``.

Every distribution works on points of shape ``(N, dim)``; ``log_prob`` returns ``(N,)`` in
the dtype of its input (float32 for training, float64 for exact integrals), so gradients
flow through it wherever its parameters or inputs require them. ``box`` gives a region that
holds all but a negligible part of the mass (for numerical integration) and ``breaks`` the
1-D points where the density is not smooth (integration panels end there).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)
TAIL = 14.0  # half-width of a normal's integration box in standard deviations (mass beyond: ~1e-44)


class Distribution:
    dim: int = 1

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log density at ``x`` (N, dim) -> (N,)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent draws (N, dim), float32."""
        raise NotImplementedError

    def box(self) -> list[tuple[float, float]]:
        """Per coordinate, an interval holding all but a negligible part of the mass."""
        raise NotImplementedError

    def breaks(self) -> list[float]:
        """1-D points where the density is not smooth (support ends, kinks)."""
        return []

    def spec(self) -> str:
        """The SPEC string that parses back to this distribution."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.spec()


def _num(v: float) -> str:
    return f"{v:g}"


class Normal(Distribution):
    def __init__(self, mean: float, std: float):
        self.mean, self.std = float(mean), float(std)

    def log_prob(self, x):
        z = (x[:, 0] - self.mean) / self.std
        return -0.5 * z * z - math.log(self.std) - 0.5 * LOG_2PI

    def sample(self, n, generator=None):
        return self.mean + self.std * torch.randn(n, 1, generator=generator)

    def box(self):
        return [(self.mean - TAIL * self.std, self.mean + TAIL * self.std)]

    def spec(self):
        return f"normal({_num(self.mean)},{_num(self.std)})"


class Uniform(Distribution):
    def __init__(self, a: float, b: float):
        self.a, self.b = float(a), float(b)

    def log_prob(self, x):
        inside = (x[:, 0] >= self.a) & (x[:, 0] <= self.b)
        out = torch.full_like(x[:, 0], -math.log(self.b - self.a))
        return torch.where(inside, out, torch.full_like(out, -math.inf))

    def sample(self, n, generator=None):
        return self.a + (self.b - self.a) * torch.rand(n, 1, generator=generator)

    def box(self):
        return [(self.a, self.b)]

    def breaks(self):
        return [self.a, self.b]

    def spec(self):
        return f"uniform({_num(self.a)},{_num(self.b)})"


class Laplace(Distribution):
    def __init__(self, loc: float, scale: float):
        self.loc, self.scale = float(loc), float(scale)

    def log_prob(self, x):
        return -torch.abs(x[:, 0] - self.loc) / self.scale - math.log(2 * self.scale)

    def sample(self, n, generator=None):
        # The difference of two standard exponentials is standard Laplace.
        e = -torch.log1p(-torch.rand(n, 2, generator=generator))  # (N, 2), rand in [0, 1)
        return self.loc + self.scale * (e[:, :1] - e[:, 1:])

    def box(self):
        return [(self.loc - 105 * self.scale, self.loc + 105 * self.scale)]  # mass beyond: e^-105

    def breaks(self):
        return [self.loc]

    def spec(self):
        return f"laplace({_num(self.loc)},{_num(self.scale)})"


class Normal2D(Distribution):
    """Bivariate normal: means (mx, my), standard deviations (sx, sy), correlation rho."""

    dim = 2

    def __init__(self, mx: float, my: float, sx: float, sy: float, rho: float = 0.0):
        self.mx, self.my, self.sx, self.sy, self.rho = map(float, (mx, my, sx, sy, rho))

    @property
    def mean_vector(self) -> torch.Tensor:
        return torch.tensor([self.mx, self.my], dtype=torch.float64)

    @property
    def covariance(self) -> torch.Tensor:
        c = self.rho * self.sx * self.sy
        return torch.tensor([[self.sx**2, c], [c, self.sy**2]], dtype=torch.float64)

    def log_prob(self, x):
        u = (x[:, 0] - self.mx) / self.sx
        v = (x[:, 1] - self.my) / self.sy
        r = self.rho
        quad = (u * u - 2 * r * u * v + v * v) / (1 - r * r)
        return -0.5 * quad - math.log(self.sx * self.sy) - 0.5 * math.log(1 - r * r) - LOG_2PI

    def sample(self, n, generator=None):
        e = torch.randn(n, 2, generator=generator)
        r = self.rho
        x = self.mx + self.sx * e[:, 0]
        y = self.my + self.sy * (r * e[:, 0] + math.sqrt(1 - r * r) * e[:, 1])
        return torch.stack([x, y], 1)

    def box(self):
        t = 9.0  # per-axis; a 2-D normal's mass outside +-9 sd per axis is ~1e-19
        return [
            (self.mx - t * self.sx, self.mx + t * self.sx),
            (self.my - t * self.sy, self.my + t * self.sy),
        ]

    def spec(self):
        args = [self.mx, self.my, self.sx, self.sy] + ([self.rho] if self.rho else [])
        return f"normal2d({','.join(_num(a) for a in args)})"


class Mixture(Distribution):
    """sum_k w_k P_k with weights summing to one; components share one dimension."""

    def __init__(self, weights: list[float], components: list[Distribution]):
        self.weights = [float(w) for w in weights]
        self.components = list(components)
        self.dim = self.components[0].dim

    def log_prob(self, x):
        parts = [math.log(w) + c.log_prob(x) for w, c in zip(self.weights, self.components, strict=True)]
        return torch.logsumexp(torch.stack(parts, 0), 0)

    def sample(self, n, generator=None):
        k = torch.multinomial(torch.tensor(self.weights), n, replacement=True, generator=generator)
        out = torch.empty(n, self.dim)
        for i, comp in enumerate(self.components):
            idx = (k == i).nonzero().squeeze(1)
            if idx.numel():
                out[idx] = comp.sample(idx.numel(), generator)
        return out

    def box(self):
        boxes = [c.box() for c in self.components]
        return [(min(b[d][0] for b in boxes), max(b[d][1] for b in boxes)) for d in range(self.dim)]

    def breaks(self):
        return sorted({b for c in self.components for b in c.breaks()})

    def spec(self):
        return (
            "mix("
            + ",".join(f"{_num(w)}*{c.spec()}" for w, c in zip(self.weights, self.components, strict=True))
            + ")"
        )
