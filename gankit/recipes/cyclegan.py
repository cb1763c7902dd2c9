"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation as a two-player game.

Player G = (G_AB, G_BA), player D = (D_A, D_B). Per training step, as in the authors' code:
first G's update, then D's update on the fakes of that G step, drawn through a pool of past
fakes (Shrivastava et al. 2017, sec. 2.3). With a = real A, b = real B:

    loss_g = w * (g_loss(D_B(G_AB(a))) + g_loss(D_A(G_BA(b))))              adversarial, eq. 1
           + lambda_cycle * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)  cycle, eq. 2
           + lambda_cycle * lambda_identity * (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)  identity, sec. 5.2
    loss_d = d_loss(D_B(b), D_B(pool_B(fake_B))) + d_loss(D_A(a), D_A(pool_A(fake_A)))

With ``recipe.augment`` (diffaugment or ada, gankit/augment) every image a critic sees, real or
generated, in G's adversarial terms, D's loss and the penalties, first goes through that
critic's augmentation T: D_B(T_B(.)) and D_A(T_A(.)) (Zhao et al. 2020, eq. 3-4). Each critic
has its own T, so ADA's p adapts to each critic's own r_t = E[sign(D(real))].

|.|_1 is the mean absolute error per pixel. Any objective works on the patch logits because
every objective reduces with ``mean``; LSGAN is the recommended one (paper sec. 4).

w (option ``g_adv_weight``) is 2 with LSGAN and 1 otherwise: the paper's least-squares
generator loss is E[(D(G(x)) - 1)^2] (sec. 4; the authors' code, ``GANLoss`` with ``MSELoss``),
while gankit's LSGAN objective carries Mao et al.'s 1/2; D's loss, 1/2 of the real and fake
squared errors, is the same in both. With w = 1 (before) the cycle and identity weights were
in effect twice the paper's.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit.augment import AugmentOptions, build_augment
from gankit.data.base import Batch
from gankit.errors import ConfigError, GankitError
from gankit.nets.base import MODELS, ModelSpec, apply_spectral_norm, build_networks
from gankit.objectives.lsgan import LSGAN
from gankit.penalties import PENALTIES
from gankit.presets import Preset
from gankit.recipes.base import RECIPES, BuildContext, Phase, Recipe

DIRECTIONS = ("AtoB", "BtoA")
NO_NOISE = (
    "a cyclegan run translates images instead of sampling noise; use gankit translate RUN IMAGE... -o OUTDIR"
)


@dataclasses.dataclass
class CycleGANRecipeOptions(AugmentOptions):
    # augment ... ada_p: as in the plain recipe (docs/relativistic.md), one T per critic
    lambda_cycle: float = 10.0  # weight of the cycle-consistency L1 loss
    lambda_identity: float = 0.5  # identity loss weight, as a fraction of lambda_cycle; 0: off
    pool_size: int = 50  # past fakes kept per domain for D; 0: D sees only the newest fakes
    # weight of G's adversarial terms; None: 2 with lsgan (the paper's unhalved least squares),
    # else 1. 1 with lsgan: Mao et al.'s 1/2, cycle and identity weights twice the paper's.
    g_adv_weight: float | None = None

    def check(self):
        AugmentOptions.check(self)
        if self.lambda_cycle < 0 or self.lambda_identity < 0:
            raise ConfigError("recipe lambda_cycle and lambda_identity must be >= 0")
        if self.g_adv_weight is not None and not self.g_adv_weight >= 0:
            raise ConfigError(f"recipe g_adv_weight={self.g_adv_weight}; allowed: a number >= 0")
        if self.pool_size < 0:
            raise ConfigError(f"recipe pool_size={self.pool_size}: must be >= 0")


class ImagePool(nn.Module):
    """A buffer of up to ``size`` past generated images (Shrivastava et al. 2017, sec. 2.3).

    ``query(fake)`` goes image by image: while the pool has room the image is stored and
    returned; once full, with probability 1/2 (u > 0.5) a uniformly chosen stored image j is
    returned and replaced by the new one, else the new image is returned. ``u ~ U[0, 1)`` and
    ``j ~ {0..size-1}`` are drawn for every image of the batch (used only when the pool is
    full), on the CPU from ``generator`` or torch's global CPU RNG, which checkpoints carry.
    The images and the count are buffers, so checkpoints and resume carry the pool too.
    """

    def __init__(self, size: int, sample_shape: tuple[int, ...]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *sample_shape))  # (size, C, H, W)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        # The count's Python copy, so choosing never waits for a GPU; re-read after a load.
        self._count: int | None = None

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._count = None

    @torch.no_grad()
    def query(self, fake: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        fake = fake.detach()
        if self.size == 0:
            return fake
        n = fake.shape[0]
        # u and j on the CPU (global CPU RNG unless ``generator``): plain Python numbers
        u = torch.rand(n, generator=generator).tolist()
        j = torch.randint(self.size, (n,), generator=generator).tolist()
        out = fake.clone()
        count = int(self.count) if self._count is None else self._count
        for i in range(n):
            if count < self.size:
                self.images[count] = fake[i]
                count += 1
            elif u[i] > 0.5:
                k = j[i]
                out[i] = self.images[k]
                self.images[k] = fake[i]
        self.count.fill_(count)
        self._count = count
        return out


class Pair(nn.Module):
    """Two networks, one per direction: ``ab`` (A -> B or judging B) and ``ba``."""

    def __init__(self, ab: nn.Module, ba: nn.Module):
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        return (self.ab if direction == "AtoB" else self.ba)(x)


def l1(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per pixel."""
    return (x - target).abs().mean()


class CycleGAN(Recipe):
    """G = Pair(G_AB, G_BA) against D = Pair(D_B, D_A); see the module docstring."""

    def __init__(
        self,
        G: Pair,
        D: Pair,
        objective,
        opts: CycleGANRecipeOptions,
        shape_a,
        shape_b,
        penalties: dict[str, float] | None = None,
        n_critic: int = 1,
        augment_a: nn.Module | None = None,
        augment_b: nn.Module | None = None,
    ):
        super().__init__()
        self.G, self.D, self.objective = G, D, objective  # D.ab judges B, D.ba judges A
        self.lambda_cycle = opts.lambda_cycle
        self.lambda_identity = opts.lambda_identity
        self.g_adv_weight = opts.g_adv_weight
        if self.g_adv_weight is None:
            self.g_adv_weight = 2.0 if isinstance(objective, LSGAN) else 1.0
        if self.lambda_identity > 0 and shape_a[0] != shape_b[0]:
            raise ConfigError(
                f"the identity loss needs both domains with the same channels, got {shape_a[0]} and "
                f"{shape_b[0]}; set --set recipe.lambda_identity=0"
            )
        self.pool_a = ImagePool(opts.pool_size, shape_a)
        self.pool_b = ImagePool(opts.pool_size, shape_b)
        self.penalties = {
            name: (PENALTIES.get(name).factory, w) for name, w in (penalties or {}).items() if w
        }
        self.n_critic = n_critic
        self._fakes = None  # (fake_a, fake_b) detached, from the last G update
        # T_A before D_A and T_B before D_B (None: off); modules, so their state is checkpointed
        self.augment_a, self.augment_b = augment_a, augment_b
        self._last_d_real = None  # (D_A(T_A(a)), D_B(T_B(b))) detached, of the last D update

    # --- contract -------------------------------------------------------------------------
    def parameters_of(self, player):
        return list((self.D if player == "D" else self.G).parameters())

    def phases(self):
        return [Phase("G", 1), Phase("D", self.n_critic)]

    def generator(self):
        return self.G

    def noise(self, n, device, generator=None):
        raise GankitError(NO_NOISE)

    def sample(self, z, y=None, G=None):
        raise GankitError(NO_NOISE)

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AtoB", G: nn.Module | None = None) -> torch.Tensor:
        """``x`` (N, C, H, W) in [-1, 1] of the source domain -> the other domain."""
        return (G or self.G)(x, direction)

    def critic(self, x, y=None):
        return self.D.ab(x)

    @torch.no_grad()
    def evaluate(self, dataset, n: int, G: nn.Module | None = None) -> dict[str, float]:
        """The dataset's translation metrics with generators ``G`` (default: the current ones)."""
        G = G or self.G
        device = next(G.parameters()).device
        was = G.training
        G.eval()
        # Metrics may build networks (the classifier on first use), which draws from torch's
        # global RNG; fork it so evaluating never changes the training that follows.
        try:
            with torch.random.fork_rng(devices=[]):
                return dataset.evaluate_translation(lambda x, d: G(x.to(device), d).float().cpu(), n)
        finally:
            G.train(was)

    # --- losses ---------------------------------------------------------------------------
    def loss(self, player, batch: Batch, step):
        if batch.x2 is None:
            raise ConfigError("recipe cyclegan needs unpaired two-domain data (e.g. --data mnist2inverted)")
        return self.g_step(batch.x, batch.x2) if player == "G" else self.d_step(batch.x, batch.x2)

    @staticmethod
    def _critic(D: nn.Module, augment: nn.Module | None):
        """D as the losses see it: D(T(x)), or D itself without augmentation."""
        return D if augment is None else (lambda x: D(augment(x)))

    def _adversarial(self, D, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        d_real = D(real) if self.objective.g_needs_real else None
        return self.objective.g_loss(D(fake), d_real)

    def g_step(self, a: torch.Tensor, b: torch.Tensor):
        fake_b = self.G.ab(a)  # (N, C_B, H, W)
        fake_a = self.G.ba(b)  # (N, C_A, H, W)
        D_B, D_A = self._critic(self.D.ab, self.augment_b), self._critic(self.D.ba, self.augment_a)
        gan = self._adversarial(D_B, fake_b, b) + self._adversarial(D_A, fake_a, a)
        gan = self.g_adv_weight * gan
        cycle = l1(self.G.ba(fake_b), a) + l1(self.G.ab(fake_a), b)
        loss = gan + self.lambda_cycle * cycle
        logs = {"gan_g": gan.detach(), "cycle": cycle.detach()}
        if self.lambda_identity > 0:
            idt = l1(self.G.ab(b), b) + l1(self.G.ba(a), a)
            loss = loss + self.lambda_cycle * self.lambda_identity * idt
            logs["identity"] = idt.detach()
        logs["loss_g"] = loss.detach()
        self._fakes = (fake_a.detach(), fake_b.detach())
        return loss, logs

    def d_step(self, a: torch.Tensor, b: torch.Tensor):
        if self._fakes is not None:
            fake_a, fake_b = self._fakes
            self._fakes = None
        else:  # a further critic update: fakes of the current generators
            with torch.no_grad():
                fake_a, fake_b = self.G.ba(b), self.G.ab(a)
        D_B, D_A = self._critic(self.D.ab, self.augment_b), self._critic(self.D.ba, self.augment_a)
        loss_b, logs, d_real_b = self._d_loss(D_B, b, self.pool_b.query(fake_b))
        loss_a, logs_a, d_real_a = self._d_loss(D_A, a, self.pool_a.query(fake_a))
        for k, v in logs_a.items():
            logs[k] = logs[k] + v
        logs["loss_d"] = (loss_a + loss_b).detach()
        self._last_d_real = (d_real_a.detach(), d_real_b.detach())
        return loss_a + loss_b, logs

    def _d_loss(self, D, real: torch.Tensor, fake: torch.Tensor):
        d_real, d_fake = D(real), D(fake)  # (N, 1, h, w) patch logits each
        loss = self.objective.d_loss(d_real, d_fake)
        logs = {}
        for name, (fn, weight) in self.penalties.items():
            value = fn(D, real, fake, d_real)
            loss = loss + weight * value
            logs[name] = value.detach()
        return loss, logs, d_real

    def after_update(self, player):
        if player == "D" and self._last_d_real is not None:
            for augment, d_real in zip((self.augment_a, self.augment_b), self._last_d_real):
                if augment is not None:
                    augment.update_state(d_real)
            self._last_d_real = None

    def stats(self):
        out = {k: float(v) for k, v in self.objective.stats().items()}
        for domain, augment in (("a", self.augment_a), ("b", self.augment_b)):
            if augment is not None:  # ADA's p and r_t of each critic: ada_p_a, ada_rt_b, ...
                out.update({f"{k}_{domain}": float(v) for k, v in augment.stats().items()})
        return out

    def rank_local_modules(self):
        return {"pool_a": self.pool_a, "pool_b": self.pool_b}


# Zhu et al. 2017, sec. 4 / 7.1: Adam 2e-4, betas (0.5, 0.999), constant for the first half
# of training, then linearly decayed to zero. CPU-sized as measured in docs/cyclegan.md.
CYCLEGAN_PRESET = Preset(
    {
        "data": "mnist2inverted",  # the data of a run that names none: the task measured below
        "model": "cyclegan",
        "loss": "lsgan",
        "lr": 2e-4,
        "betas": (0.5, 0.999),
        "lr_schedule": "linear-decay",
        "batch_size": 16,
        "model.width": 16,
        "model.n_blocks": 2,
        "model.n_down": 1,
        "steps": 3000,  # an upper bound: the 14-minute budget fits about 2,200 at one thread here
        "max_wall_s": 840.0,
        "eval_every": 250,
    },
    "docs/cyclegan.md run 2 (n_down 1, width 16, 2 blocks, batch 16, 1,000 steps in 21 min: label "
    "preservation 0.98 / 0.99); defaults_mnist2inverted_cyclegan_steps3000_threads1.json (the whole "
    "process, one thread beside another run: 2,230 steps fitted to the budget in 815 s, labels kept "
    "0.990 / 0.992, fid_ab / fid_ba 0.34 / 0.36; the former 1,000-step cap: 0.988 / 0.991, 0.44 / 0.45)",
    {"model": "cyclegan"},
)


@RECIPES.register("cyclegan", options=CycleGANRecipeOptions, presets=CYCLEGAN_PRESET)
def build_cyclegan_recipe(ctx: BuildContext) -> CycleGAN:
    """Two generators and two PatchGAN critics with cycle and identity losses and a fake pool."""
    ds = ctx.dataset
    shape_b = getattr(ds, "sample_shape_b", None)
    if shape_b is None:
        raise ConfigError(
            f"recipe cyclegan needs unpaired two-domain data, not {ctx.cfg.data!r}; "
            "use --data mnist2inverted or --data unpaired:FOLDER"
        )
    if not getattr(MODELS.get(ctx.cfg.model).factory, "image_to_image", False):
        raise ConfigError(
            f"recipe cyclegan needs an image-to-image model, not {ctx.cfg.model!r}; use --model cyclegan"
        )
    if ctx.objective.d_output != "logit":
        raise ConfigError(
            f"recipe cyclegan's PatchGAN critics give logits; objective {ctx.cfg.loss!r} needs "
            f"{ctx.objective.d_output!r} outputs; use --loss lsgan"
        )
    spec = ModelSpec(
        sample_shape=tuple(ds.sample_shape),
        z_dim=0,
        bounded=True,
        d_output=ctx.objective.d_output,
        spectral_norm=ctx.cfg.spectral_norm,
        target_shape=tuple(shape_b),
    )
    nets = build_networks(ctx.cfg.model, spec, ctx.cfg.model_args)
    if spec.spectral_norm:
        apply_spectral_norm(nets["D_A"])
    return CycleGAN(
        Pair(nets["G"], nets["G_BA"]),
        Pair(nets["D"], nets["D_A"]),
        ctx.objective,
        ctx.options,
        tuple(ds.sample_shape),
        tuple(shape_b),
        ctx.cfg.penalties,
        ctx.cfg.n_critic,
        augment_a=build_augment(ctx.options, tuple(ds.sample_shape)),
        augment_b=build_augment(ctx.options, tuple(shape_b)),
    )
