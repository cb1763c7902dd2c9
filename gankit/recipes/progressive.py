"""Progressive growing (Karras et al. 2018, sec. 2 and A.1): the plain two-player game played at
a resolution that doubles from ``start_res`` to the data's size.

Schedule, in images shown: ``stable_images`` at the start resolution; then for every
doubling, ``fade_images`` while alpha goes linearly from 0 to 1, and ``stable_images`` at
alpha 1; the last resolution stays stable until the end. :meth:`set_progress` computes the
stage from the images seen and keeps it in buffers (``level``, ``alpha``), so a checkpoint
records it and a resume mid-phase continues exactly.

Real batches are average-pooled to the current resolution r and, during a fade, blended with
their 2x-coarser copy like G's output is:
``real = lerp(upsample(avgpool(real_r)), real_r, alpha)``.

Penalties: the drift term ``drift * E[D(x)^2]`` (sec. A.1, weight 0.001) is added to the
configured penalties unless they name ``drift`` already (``--penalty gp=10,drift=0`` turns it
off); the paper's loss is ``--loss wgan-gp`` (gp 10 by its defaults). Samples (and so the
evaluation metrics and pictures) come from the current resolution, upsampled to the data's size.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gankit.augment import AugmentOptions
from gankit.data.base import Batch
from gankit.errors import ConfigError
from gankit.nets.base import build_networks
from gankit.penalties import GammaScheduleOptions
from gankit.presets import Preset
from gankit.recipes.base import RECIPES, BuildContext
from gankit.recipes.plain import TwoPlayer, model_spec, recipe_extras


@dataclasses.dataclass
class ProgressiveOptions(AugmentOptions, GammaScheduleOptions):
    # augment ... ada_p and gamma_schedule ...: as in the plain recipe (docs/relativistic.md)
    start_res: int = 4  # first resolution (a power of two >= 4)
    fade_images: int = 800_000  # images shown while a new resolution fades in
    stable_images: int = 800_000  # images shown at each resolution once faded in
    drift: float = 0.001  # drift penalty weight, used unless penalties name "drift"

    def check(self):
        AugmentOptions.check(self)
        GammaScheduleOptions.check(self)
        r = self.start_res
        if r < 4 or r & (r - 1):
            raise ConfigError(f"recipe progressive start_res={r}: must be a power of two >= 4")
        if self.fade_images < 0 or self.stable_images < 0 or self.drift < 0:
            raise ConfigError("recipe progressive fade_images, stable_images and drift must be >= 0")


def stage_at(images: int, start_level: int, n_levels: int, fade: int, stable: int) -> tuple[int, float]:
    """(level, alpha) after ``images`` images shown: level 0 is 4x4, alpha in [0, 1]."""
    level, t = start_level, images
    if t < stable:
        return level, 1.0
    t -= stable
    while level < n_levels - 1:
        level += 1
        if t < fade:
            return level, t / fade
        t -= fade
        if t < stable:
            return level, 1.0
        t -= stable
    return level, 1.0


def to_resolution(x: torch.Tensor, res: int) -> torch.Tensor:
    """Average-pool square images (N, C, S, S) to (N, C, res, res); S a multiple of res."""
    return x if x.shape[-1] == res else F.avg_pool2d(x, x.shape[-1] // res)


class Progressive(TwoPlayer):
    """TwoPlayer whose G and D run at the scheduled stage; see the module docstring."""

    def __init__(
        self,
        G,
        D,
        objective,
        penalties,
        n_critic,
        start_res: int,
        fade_images: int,
        stable_images: int,
        reuse_fake: bool = True,
        **extras,  # augment, gamma: as in TwoPlayer
    ):
        super().__init__(
            G, D, objective, penalties, n_critic, conditional=False, reuse_fake=reuse_fake, **extras
        )
        self.n_levels = G.n_levels
        self.start_level = start_res.bit_length() - 3  # 4 -> 0, 8 -> 1, ...
        self.fade_images, self.stable_images = fade_images, stable_images
        self.register_buffer("level", torch.tensor(self.start_level, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))
        self.register_load_state_dict_post_hook(lambda module, keys: module._push_stage())
        self._push_stage()

    # --- the schedule ---------------------------------------------------------------------
    # The buffers are the record (checkpoints); ``_stage`` is their Python copy, so reading the
    # stage several times per step never waits for a GPU.

    @property
    def resolution(self) -> int:
        return 4 * 2 ** self._stage[0]

    def stage(self) -> tuple[int, float]:
        """(level, alpha) of the current step."""
        return self._stage

    def _push_stage(self, level: int | None = None, alpha: float | None = None) -> None:
        """Set the networks' stage (from the buffers when not given: after a checkpoint load)."""
        if level is None:
            level, alpha = int(self.level), float(self.alpha)
        self._stage = (level, alpha)
        self.G.set_stage(level, alpha)
        self.D.set_stage(level, alpha)

    def set_progress(self, step: int, images_seen: int) -> None:
        super().set_progress(step, images_seen)
        level, alpha = stage_at(
            images_seen, self.start_level, self.n_levels, self.fade_images, self.stable_images
        )
        self.level.fill_(level)
        self.alpha.fill_(alpha)
        self._push_stage(level, float(torch.tensor(alpha, dtype=self.alpha.dtype)))

    def real_at_stage(self, x: torch.Tensor) -> torch.Tensor:
        """Real images (N, C, S, S) -> (N, C, r, r) at the current stage, faded like G's output."""
        level, alpha = self.stage()
        x = to_resolution(x, self.resolution)
        if alpha < 1.0 and level > 0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, alpha)
        return x

    # --- the game at the current stage ----------------------------------------------------
    def d_step(self, batch: Batch):
        return super().d_step(Batch(self.real_at_stage(batch.x), batch.y))

    def g_step(self, batch: Batch):
        return super().g_step(Batch(self.real_at_stage(batch.x), batch.y))

    @torch.no_grad()
    def sample(self, z, y=None, G=None):
        """Samples at the current stage, nearest-upsampled to the data's size."""
        level, alpha = self.stage()
        x = (G or self.G)(z, None, level=level, alpha=alpha)
        factor = 2 ** (self.n_levels - 1 - level)
        return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x

    def critic(self, x, y=None):
        return self.D(self.real_at_stage(x))

    def draw_pictures(self, trainer, folder):
        """``growth.png``: a row of samples per evaluation with its resolution and alpha."""
        from gankit.viz.growth import draw_growth_picture

        return draw_growth_picture(trainer, folder)

    def stats(self):
        out = super().stats()
        out.update(resolution=float(self.resolution), alpha=self._stage[1])
        return out


# With no --model / --loss: the growing networks and the paper's WGAN-GP game.
# Karras et al. 2018, sec. A.1: Adam lr 0.001, betas (0, 0.99), one critic update per G
# update, and the generator's weights averaged for samples. CPU-sized (benchmarks/began_progan.py
# --which progan): narrow networks, EMA 0.99, batch 32, short phases, a 14-minute budget.
PROGRESSIVE_PRESET = Preset(
    {
        "data": "mnist",  # image data for a run that names none (measured there)
        "model": "progan",
        "loss": "wgan-gp",
        "lr": 1e-3,
        "betas": (0.0, 0.99),
        "n_critic": 1,
        "ema": 0.99,
        "batch_size": 32,
        "model.fmap_base": 256,
        "model.fmap_max": 32,
        "recipe.fade_images": 3000,
        "recipe.stable_images": 3000,
        "steps": 20000,
        "max_wall_s": 840.0,
        "eval_every": 250,
    },
    "README ProGAN row (benchmarks/began_progan.py --which progan, phases of 8,000 images: fid_lenet "
    "16.1 after 2,400 s); defaults_mnist_progressive.json (phases of 3,000 images, the whole default "
    "process: 3,389 steps in 847 s, grown to 32 px, fid_lenet 11.8)",
    {"model": "progan"},
)


@RECIPES.register("progressive", options=ProgressiveOptions, presets=PROGRESSIVE_PRESET)
def build_progressive(ctx: BuildContext) -> Progressive:
    """Progressive growing: G and D grow from start_res to the data size, new blocks faded in."""
    opts: ProgressiveOptions = ctx.options
    nets = build_networks(ctx.cfg.model, model_spec(ctx), ctx.cfg.model_args)
    G, D = nets["G"], nets["D"]
    if not all(hasattr(net, "set_stage") for net in (G, D)):
        raise ConfigError(
            f"recipe progressive needs a growing model; model {ctx.cfg.model!r} is not one (use --model progan)"
        )
    if 4 * 2 ** (G.n_levels - 1) < opts.start_res:
        raise ConfigError(
            f"recipe progressive start_res={opts.start_res} exceeds the data size {4 * 2 ** (G.n_levels - 1)}"
        )
    penalties = dict(ctx.cfg.penalties)
    if "drift" not in penalties and opts.drift > 0:
        penalties["drift"] = opts.drift
    return Progressive(
        G,
        D,
        ctx.objective,
        penalties,
        ctx.cfg.n_critic,
        opts.start_res,
        opts.fade_images,
        opts.stable_images,
        reuse_fake=True,
        **recipe_extras(ctx, opts),
    )
