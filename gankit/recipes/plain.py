"""The plain two-player game (and its conditional form when the data has labels)."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit.augment import AugmentOptions, build_augment
from gankit.data.base import Batch
from gankit.errors import ConfigError
from gankit.nets.base import ModelSpec, has_batchnorm
from gankit.penalties import PENALTIES, ZERO_CENTRED, GammaSchedule, GammaScheduleOptions
from gankit.recipes.base import RECIPES, BuildContext, Phase, Recipe
from gankit.tricks import TrickOptions, build_with_tricks


@dataclasses.dataclass
class PlainOptions(AugmentOptions, GammaScheduleOptions, TrickOptions):
    # The remedies against mode collapse (feature_matching ... unroll_inner) come from
    # TrickOptions, see gankit/tricks and docs/mode_collapse.md; augment ... ada_p from
    # AugmentOptions and gamma_schedule ... from GammaScheduleOptions (docs/relativistic.md).
    conditional: bool = False  # condition G and D on the dataset's labels
    # Reuse the generator's forward pass of the last D update in the G update when nothing
    # changed G in between (the DCGAN reference does this), saving one G forward per step.
    reuse_fake: bool = True

    def check(self):
        AugmentOptions.check(self)
        GammaScheduleOptions.check(self)
        TrickOptions.check(self)


def recipe_extras(ctx: BuildContext, opts) -> dict:
    """TwoPlayer's ``augment`` and ``gamma`` from options that include AugmentOptions and
    GammaScheduleOptions."""
    from gankit.training.distributed import world_size

    if opts.augment == "ada" and ctx.objective.d_output != "logit":
        raise ConfigError(
            f"recipe.augment=ada adapts p from the sign of D's logits on real data; objective "
            f"{ctx.cfg.loss!r} gives {ctx.objective.d_output} outputs: use diffaugment or a logit objective"
        )
    run_images = ctx.cfg.steps * ctx.cfg.batch_size * world_size()
    return {
        "augment": build_augment(opts, tuple(ctx.dataset.sample_shape)),
        "gamma": GammaSchedule(opts, run_images),
    }


def model_spec(ctx: BuildContext, num_classes: int = 0) -> ModelSpec:
    ds = ctx.dataset
    z_dim = ctx.cfg.z_dim or getattr(ds, "default_z_dim", 64)
    return ModelSpec(
        sample_shape=tuple(ds.sample_shape),
        z_dim=z_dim,
        num_classes=num_classes,
        bounded=ds.kind in ("images", "paired-images"),
        d_output=ctx.objective.d_output,
        spectral_norm=ctx.cfg.spectral_norm,
    )


class TwoPlayer(Recipe):
    """G and D playing ``objective``, plus the configured penalties on D.

    D step: fake = G(z) detached; one D call on cat(real, fake) when D has no batch norm
    (batch norm must see real and fake batches separately), else two calls.
    G step: the fake of the last D step when ``reuse_fake`` and G is unchanged, else a new one.
    ``augment`` (an :class:`~gankit.augment.Augment`) transforms every batch D sees in the
    adversarial losses and the penalties; ``gamma`` scales the r1 and r2 weights with training
    progress.
    """

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        objective,
        penalties: dict[str, float],
        n_critic: int,
        conditional: bool = False,
        reuse_fake: bool = True,
        tricks=None,
        augment=None,
        gamma: GammaSchedule | None = None,
    ):
        super().__init__()
        self.G, self.D, self.objective = G, D, objective
        self.penalties = {name: (PENALTIES.get(name).factory, w) for name, w in penalties.items() if w}
        self.n_critic = n_critic
        self.conditional = conditional
        self.reuse_fake = reuse_fake
        self.joint_d_call = not has_batchnorm(D)
        self._cached = None  # (z, y, fake with graph) from the last D update
        self.tricks = tricks  # gankit.tricks.game.Tricks: loss-side remedies (None: off)
        self.augment = augment  # applied to real and fake alike before D (None: off)
        self.gamma = gamma
        self._gamma_factor = 1.0  # gamma's factor at the current step (set_progress)

    # --- contract -------------------------------------------------------------------------
    def parameters_of(self, player):
        return list((self.D if player == "D" else self.G).parameters())

    def phases(self):
        return [Phase("D", self.n_critic), Phase("G", 1)]

    def generator(self):
        return self.G

    def frozen_during(self, player):
        # During D updates G keeps its gradients on when its forward pass is reused by the
        # G update (the fake is detached for D's loss, so no G gradient is computed there).
        if player == "D" and self.reuse_fake:
            return []
        return super().frozen_during(player)

    def noise(self, n, device, generator=None):
        return torch.randn(n, self.G.z_dim, device=device, generator=generator)

    @torch.no_grad()
    def sample(self, z, y=None, G=None):
        return (G or self.G)(z, y if self.conditional else None)

    def critic(self, x, y=None):
        D = getattr(self.D, "per_sample", self.D)  # a packed D (PacGAN) scores packs of copies
        return D(x, y if self.conditional else None)

    def penalty_inputs(self, real, fake, y):
        """(critic, real, fake) the penalties see: D and the batches, or D's own view (PacGAN:
        the packed batches)."""
        view = getattr(self.D, "penalty_view", None)
        if view is not None:
            return view(real, fake, y)
        return (lambda x: self.D(self.augmented(x), y)), real, fake

    def augmented(self, x):
        """``x`` through the augmentation (the same transforms for real and fake batches)."""
        return x if self.augment is None else self.augment(x)

    # --- losses ---------------------------------------------------------------------------
    def _labels(self, batch: Batch):
        return batch.y if self.conditional else None

    def d_forward(self, x, y):
        """D's outputs (N,) inside the losses; subclasses may keep D's features on the way
        (InfoGAN's Q head). Fake samples are always the last rows of the last call."""
        return self.D(x, y)

    def _d_outputs(self, real, fake, y):
        """D on real and fake: (d_real (N,), d_fake (N,))."""
        if self.joint_d_call:
            both = self.d_forward(
                self.augmented(torch.cat([real, fake])), None if y is None else torch.cat([y, y])
            )
            n_real = both.shape[0] * real.shape[0] // (real.shape[0] + fake.shape[0])  # packs (PacGAN)
            return both[:n_real], both[n_real:]
        return self.d_forward(self.augmented(real), y), self.d_forward(self.augmented(fake), y)

    def generate(self, n, device, y):
        z = self.noise(n, device)
        return z, self.G(z, y)

    def loss(self, player, batch, step):
        return self.d_step(batch) if player == "D" else self.g_step(batch)

    def d_step(self, batch: Batch):
        real, y = batch.x, self._labels(batch)
        # Keep G's graph only on the last D update before a G update, when it can be reused.
        keep = self.reuse_fake and self._d_updates_left == 1
        with torch.set_grad_enabled(keep and torch.is_grad_enabled()):
            z, fake = self.generate(real.shape[0], real.device, y)
        self._cached = (y, fake) if keep else None
        self._d_updates_left -= 1
        fake = fake.detach()
        d_real, d_fake = self._d_outputs(real, fake, y)
        loss = self.objective.d_loss(d_real, d_fake)
        logs = {"loss_d": loss.detach()}
        if self.penalties:
            critic, p_real, p_fake = self.penalty_inputs(real, fake, y)
        for name, (fn, weight) in self.penalties.items():
            value = fn(critic, p_real, p_fake, d_real)
            if name in ZERO_CENTRED:
                weight = weight * self._gamma_factor
            loss = loss + weight * value
            logs[name] = value.detach()
        if self.tricks is not None:
            loss, logs = self.tricks.d_extra(self, loss, logs)
        self._last_d = (d_real.detach(), d_fake.detach())
        return loss, logs

    def g_step(self, batch: Batch):
        y = self._labels(batch)
        if self._cached is not None and (y is None or self._cached[0] is not None):
            y, fake = self._cached
        else:
            _, fake = self.generate(batch.x.shape[0], batch.x.device, y)
        self._cached = None
        if self.tricks is not None:
            return self.tricks.g_step(self, batch.x, fake, y)
        return self.g_adversarial(batch.x, fake, y)

    def g_adversarial(self, real, fake, y):
        """The objective's generator loss of ``fake`` (and its logs)."""
        if self.objective.g_needs_real:
            # D is frozen here, so D(real) is a constant for G: computed without a graph
            # (the relativistic losses' gradient reaches G through D(fake) alone)
            with torch.no_grad():
                d_real = self.d_forward(self.augmented(real), y)
            loss = self.objective.g_loss(self.d_forward(self.augmented(fake), y), d_real)
        else:
            loss = self.objective.g_loss(self.d_forward(self.augmented(fake), y), None)
        return loss, {"loss_g": loss.detach()}

    def begin_step(self):
        """Called by the loop at the start of each training step."""
        self._d_updates_left = self.n_critic

    def set_progress(self, step, images_seen):
        if self.gamma is not None:
            self._gamma_factor = self.gamma.factor(images_seen)

    def after_update(self, player):
        if player == "D":
            self.objective.update_state(*self._last_d)
            if self.augment is not None:
                self.augment.update_state(self._last_d[0])
        if self.tricks is not None:
            self.tricks.after_update(self, player)

    def stats(self):
        out = {k: float(v) for k, v in self.objective.stats().items()}
        if self.augment is not None:
            out.update({k: float(v) for k, v in self.augment.stats().items()})
        if self.gamma is not None and self.gamma.cosine:
            out["gamma_factor"] = self._gamma_factor
        return out


@RECIPES.register("plain", options=PlainOptions)
def build_plain(ctx: BuildContext) -> TwoPlayer:
    """G against D with any objective, penalties and model; conditional on labels if asked."""
    opts: PlainOptions = ctx.options
    num_classes = 0
    if opts.conditional:
        if not ctx.dataset.num_classes:
            raise ConfigError(
                f"recipe.conditional=true needs labeled data; dataset {ctx.dataset.name!r} has no labels"
            )
        num_classes = ctx.dataset.num_classes
    G, D, tricks = build_with_tricks(ctx.cfg, model_spec(ctx, num_classes), opts)
    return TwoPlayer(
        G,
        D,
        ctx.objective,
        ctx.cfg.penalties,
        ctx.cfg.n_critic,
        conditional=opts.conditional,
        reuse_fake=opts.reuse_fake,
        tricks=tricks,
        **recipe_extras(ctx, opts),
    )
