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
    # None: not given; the preset's value (custom: a=0, b=1, c=1). A value given together with
    # a preset must agree with it.
    a: float | None = None  # target for fake in D's loss
    b: float | None = None  # target for real in D's loss
    c: float | None = None  # target G wants D to give its samples

    def __post_init__(self):
        if self.preset not in (*PRESETS, "custom"):
            raise ConfigError(f"lsgan preset={self.preset!r}; choose one of: {', '.join(PRESETS)}, custom")
        targets = PRESETS.get(self.preset, PRESETS["01"])
        given = {k: getattr(self, k) for k in "abc" if getattr(self, k) is not None}
        if self.preset != "custom":
            wrong = {k: v for k, v in given.items() if v != targets["abc".index(k)]}
            if wrong:
                shown = ", ".join(f"{k}={v}" for k, v in wrong.items())
                raise ConfigError(
                    f"lsgan preset={self.preset!r} sets (a, b, c)={targets} but {shown} was "
                    "given; use preset=custom to set a, b, c yourself"
                )
        self.a, self.b, self.c = (
            float(given.get(k, default)) for k, default in zip("abc", targets, strict=True)
        )

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
