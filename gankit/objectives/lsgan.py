"""Least squares GAN (Mao et al. 2017, eq. 2)."""

from __future__ import annotations

import dataclasses

from gankit.errors import ConfigError
from gankit.objectives.base import OBJECTIVES, Objective

# Target presets (a, b, c) of Mao et al. 2017: (0, 1, 1) is the common choice; (-1, 1, 0)
# satisfies b - c = 1, b - a = 2 and makes the game minimize Pearson chi^2 (their eq. 9).
PRESETS = {"01": (0.0, 1.0, 1.0), "pearson": (-1.0, 1.0, 0.0)}


@dataclasses.dataclass
class LSGANOptions:
    preset: str = "custom"  # "01" -> (0, 1, 1), "pearson" -> (-1, 1, 0), "custom": a, b, c
    a: float = 0.0  # target for fake in D's loss
    b: float = 1.0  # target for real in D's loss
    c: float = 1.0  # target G wants D to give its samples

    def __post_init__(self):
        if self.preset not in (*PRESETS, "custom"):
            raise ConfigError(
                f"lsgan preset={self.preset!r}; choose one of: {', '.join(PRESETS)}, custom"
            )
        if self.preset != "custom":
            given = (self.a, self.b, self.c)
            if given not in ((0.0, 1.0, 1.0), PRESETS[self.preset]):
                raise ConfigError(
                    f"lsgan preset={self.preset!r} sets (a, b, c)={PRESETS[self.preset]} but "
                    f"{given} was given; use preset=custom to set a, b, c yourself"
                )
            self.a, self.b, self.c = PRESETS[self.preset]

    def check(self):
        if self.a == self.b:
            raise ConfigError(
                f"lsgan targets a={self.a} and b={self.b} are equal: D could not tell real "
                "from fake; choose b != a"
            )


@OBJECTIVES.register("lsgan", options=LSGANOptions)
class LSGAN(Objective):
    """min_D 1/2 E_P[(D(x) - b)^2] + 1/2 E_Q[(D(G(z)) - a)^2];  min_G 1/2 E_Q[(D(G(z)) - c)^2].

    Mao et al. 2017, eq. 2; D's output is linear (no sigmoid).
    """

    def __init__(self, opts: LSGANOptions):
        super().__init__()
        self.a, self.b, self.c = opts.a, opts.b, opts.c

    def d_loss(self, d_real, d_fake):
        return 0.5 * (d_real - self.b).pow(2).mean() + 0.5 * (d_fake - self.a).pow(2).mean()

    def g_loss(self, d_fake, d_real=None):
        return 0.5 * (d_fake - self.c).pow(2).mean()
