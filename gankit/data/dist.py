"""``dist:SPEC``: samples of a distribution with a known density (see gankit.theory.spec).

``--data "dist:normal(0,1)"`` or ``--data "dist:mix(0.3*normal(-2,0.5),0.7*normal(1,1))"``;
the part after the colon arrives as the option ``path`` (the convention of ``name:ARG``).
"""

from __future__ import annotations

import dataclasses

from gankit.data.base import DATASETS
from gankit.data.toy import GeneratedDataset
from gankit.theory.distributions import Distribution
from gankit.theory.spec import parse_spec


@dataclasses.dataclass
class DistOptions:
    path: str = "normal(0,1)"  # the distribution's SPEC, given as dist:SPEC

    def check(self):
        parse_spec(self.path)


class DensityDataset(GeneratedDataset):
    """Fresh samples (N, dim) of ``dist``; its exact density is ``dist.log_prob``."""

    default_z_dim = 1

    def __init__(self, dist: Distribution):
        self.dist = dist
        self.sample_shape = (dist.dim,)
        self.default_z_dim = dist.dim
        self.kind = "points" if dist.dim == 2 else "density"

    def draw(self, n, gen):
        return self.dist.sample(n, gen)

    def evaluate(self, fake, labels=None):
        """Average log-likelihood of the generated samples under the true density."""
        return {"loglik": float(self.dist.log_prob(fake.double()).mean())}

    def main_metric(self):
        return "loglik"


@DATASETS.register("dist", options=DistOptions)
def dist(opts: DistOptions, data_dir=None):
    """Any distribution with a density, given as dist:SPEC, e.g. dist:normal(0,1)."""
    return DensityDataset(parse_spec(opts.path))
