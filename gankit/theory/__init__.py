"""The theory lab: distributions with known densities, exact f-divergences, and the
experiments behind GANs (variational divergence estimates, the optimal discriminator,
maximum likelihood as KL minimization, mode covering versus mode seeking)."""

from gankit.theory.distributions import Distribution, Laplace, Mixture, Normal, Normal2D, Uniform
from gankit.theory.spec import parse_spec

__all__ = ["Distribution", "Laplace", "Mixture", "Normal", "Normal2D", "Uniform", "parse_spec"]
