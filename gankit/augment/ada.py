"""Adaptive discriminator augmentation (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data").

Each transform of the pipeline is applied to each example with probability p (sec. 2.2-2.3);
p adapts to D's overfitting heuristic r_t = E[sign(D(x_real))] (sec. 3, eq. 1): every
``interval`` discriminator updates, over the N real images they saw,

    p <- clip(p + sign(r_t - target) * N / (ada_kimg * 1000), 0, 1)        (target 0.6)

so p can move from 0 to 1 in ``ada_kimg`` thousand images (the paper: 500k; their code adjusts
every 4 steps by batch * 4 / 500k). A subset of the paper's pipeline (appendix B.2, "bgc" plus
cutout), all differentiable in the images:

- xflip (a coin per example), rotation by a multiple of 90 degrees, integer translation up to
  1/8 of the size with the image reflected about its edges into the vacated pixels (the paper's
  padding, appendix B.2);
- brightness + N(0, 0.2), contrast x lognormal(0, (0.5 ln 2)^2), saturation x lognormal(0, (ln 2)^2);
- cutout of half the image size at a uniform centre.

State: p, the sign sum and image count since the last adjustment, and the last r_t, all
buffers, so checkpoints carry them and a resume continues exactly. Under multi-process
training the sign sum and count are averaged over ranks (:func:`gankit.training.distributed.all_mean`)
before each adjustment, so every rank takes the identical step.
"""

from __future__ import annotations

import math

import torch

from gankit.augment import ops
from gankit.augment.base import AUGMENTS, Augment, AugmentOptions
from gankit.augment.diffaugment import CUTOUT_RATIO, TRANSLATION_RATIO

BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5 * math.log(2.0)  # of the log factor
SATURATION_STD = math.log(2.0)


def adjustment(r_t: torch.Tensor, images: torch.Tensor, target: float, kimg: float) -> torch.Tensor:
    """The step of p: sign(r_t - target) * images / (kimg * 1000)."""
    return torch.sign(r_t - target) * images / (kimg * 1000.0)


class ADA(Augment):
    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500.0, p: float = 0.0):
        super().__init__()
        self.target, self.interval, self.kimg = target, interval, kimg
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("sign_sum", torch.zeros(()))  # sum of sign(D(real)) since the last step
        self.register_buffer("count", torch.zeros(()))  # real images since the last step (this rank)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))  # D updates seen
        self.register_buffer("r_t", torch.zeros(()))  # r_t of the last adjustment
        self._updates = 0  # Python copy of ``updates``: no GPU read per step
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_counter())

    def _sync_counter(self) -> None:
        self._updates = int(self.updates)

    # --- the pipeline -----------------------------------------------------------------------
    def chosen(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which examples get the next transform, each with probability p."""
        return torch.rand(x.shape[0], device=x.device) < self.p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        n, _, h, w = x.shape
        dev = x.device
        # geometric: xflip, rotation by k * 90 degrees (square images), integer translation
        x = ops.xflip(x, self.chosen(x) & (torch.rand(n, device=dev) < 0.5))
        if h == w:
            x = ops.rotate90(x, torch.randint(0, 4, (n,), device=dev) * self.chosen(x))
        sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
        move = self.chosen(x)
        dy = torch.randint(-sh, sh + 1, (n,), device=dev) * move
        dx = torch.randint(-sw, sw + 1, (n,), device=dev) * move
        x = ops.translate(x, dx, dy, reflect=True)
        # colour
        x = ops.where(self.chosen(x), ops.brightness(x, torch.randn(n, device=dev) * BRIGHTNESS_STD), x)
        factor = torch.exp(torch.randn(n, device=dev) * CONTRAST_STD)
        x = ops.where(self.chosen(x), ops.contrast(x, factor), x)
        factor = torch.exp(torch.randn(n, device=dev) * SATURATION_STD)
        x = ops.where(self.chosen(x), ops.saturation(x, factor), x)
        # cutout
        size = (int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5))
        cy, cx = torch.randint(0, h, (n,), device=dev), torch.randint(0, w, (n,), device=dev)
        return ops.where(self.chosen(x), ops.cutout(x, cy - size[0] // 2, cx - size[1] // 2, size), x)

    # --- adaptation ---------------------------------------------------------------------------
    def update_state(self, d_real: torch.Tensor) -> None:
        """Accumulate sign(D(real)) of one D update; every ``interval`` updates, step p."""
        from gankit.training.distributed import all_mean, world_size

        d_real = d_real.detach().float().reshape(d_real.shape[0], -1).mean(1)  # (N,)
        self.sign_sum += torch.sign(d_real).sum()
        self.count += d_real.shape[0]
        self.updates += 1
        self._updates += 1
        if self._updates % self.interval:
            return
        # the mean over ranks of (sign sum, count): r_t over every rank's images
        stats = all_mean(torch.stack([self.sign_sum, self.count]))
        r_t = stats[0] / stats[1].clamp(min=1)
        step = adjustment(r_t, stats[1] * world_size(), self.target, self.kimg)
        self.p.copy_((self.p + step).clamp(0.0, 1.0))
        self.r_t.copy_(r_t)
        self.sign_sum.zero_()
        self.count.zero_()

    def stats(self) -> dict[str, torch.Tensor]:
        return {"ada_p": self.p.detach().clone(), "ada_rt": self.r_t.detach().clone()}

    def extra_repr(self) -> str:
        return f"target={self.target}, interval={self.interval}, kimg={self.kimg}"


@AUGMENTS.register("ada")
def ada(opts: AugmentOptions) -> ADA:
    """ADA (Karras et al. 2020): xflip, rot90, translation, colour, cutout with adaptive p (target 0.6)."""
    return ADA(opts.ada_target, opts.ada_interval, opts.ada_kimg, opts.ada_p)
