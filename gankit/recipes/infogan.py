"""InfoGAN (Chen et al. 2016): latent codes whose mutual information with the samples is kept
high, so each code comes to control one factor of variation.

G's input is ``[z, one-hot c_1, ..., one-hot c_m, c_cont]``: noise z ~ N(0, I), categorical
codes c_i ~ Uniform{0..k_i-1} and continuous codes c_cont ~ U(-1, 1). A head Q on the
discriminator's body (``D.features``) predicts the codes of a generated sample: logits per
categorical code and a Gaussian (mean, and log-std when learned, else std 1 as in the
reference code) per continuous code. The variational lower bound of eq. (4),

    L_I(G, Q) = E[log Q(c | G(z, c))] + H(c) <= I(c; G(z, c)),

is maximized by both players: ``lambda_info * (CE_cat + lambda_cont * NLL_cont)`` (the negative
log-likelihood part of -L_I) is added to D's loss (gradients reach D's body and Q) and to G's
loss (gradients reach G). Q is part of player D: only D's optimizer steps it, as in the
reference code (openai/InfoGAN, ``infogan_trainer.py``: Q's layers live in the ``d_net`` scope,
so they are in ``d_vars``, and G's optimizer gets ``g_vars`` only). Option ``q_in_g`` puts Q in
G's player as well (gankit before: Q stepped by both optimizers).

Built on :class:`~gankit.recipes.plain.TwoPlayer`: D's features of the fake batch are kept
by ``d_forward`` (no extra D pass), the latent of the last fake batch by ``generate``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.augment import AugmentOptions
from gankit.errors import ConfigError
from gankit.nets.base import build_networks
from gankit.penalties import GammaScheduleOptions
from gankit.presets import Preset
from gankit.recipes.base import RECIPES, BuildContext
from gankit.recipes.plain import TwoPlayer, model_spec, recipe_extras

LOG_2PI = math.log(2 * math.pi)


@dataclasses.dataclass
class InfoGANOptions(AugmentOptions, GammaScheduleOptions):
    # augment ... ada_p and gamma_schedule ...: as in the plain recipe (docs/relativistic.md)
    n_categorical: list[int] = dataclasses.field(default_factory=lambda: [10])  # category counts
    n_continuous: int = 2  # continuous codes, each U(-1, 1)
    lambda_info: float = 1.0  # weight of the mutual-information term in both players' losses
    lambda_cont: float = 1.0  # extra weight of the continuous codes' NLL (paper: often < 1)
    learn_std: bool = False  # Q predicts a log-std per continuous code; else std 1
    q_width: int = 128  # hidden units of Q's layer on D's features
    q_norm: str = "none"  # none | batch (the paper's MNIST Q: batch norm after that layer)
    code_eval: int = 1000  # samples for code_accuracy at each evaluation (0: off)
    reuse_fake: bool = True  # as in the plain recipe
    q_in_g: bool = False  # Q also stepped by G's optimizer; the reference: by D's only

    def check(self):
        AugmentOptions.check(self)
        GammaScheduleOptions.check(self)
        if any(k < 2 for k in self.n_categorical):
            raise ConfigError(f"n_categorical={self.n_categorical}: each category count must be >= 2")
        if self.n_continuous < 0:
            raise ConfigError(f"n_continuous={self.n_continuous}: must be >= 0")
        if not self.n_categorical and not self.n_continuous:
            raise ConfigError("infogan needs at least one code: set n_categorical or n_continuous")
        if self.lambda_info < 0 or self.lambda_cont < 0:
            raise ConfigError("lambda_info and lambda_cont must be >= 0")
        if self.q_norm not in ("none", "batch"):
            raise ConfigError(f"q_norm={self.q_norm!r}; allowed: none, batch")
        if self.q_width < 1 or self.code_eval < 0:
            raise ConfigError(f"q_width={self.q_width} must be >= 1 and code_eval={self.code_eval} >= 0")


# --- the mutual-information term (pure functions) ---------------------------------------------
def categorical_nll(logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """-E[log Q(c | x)] for one categorical code: cross-entropy of logits (N, k), codes (N,)."""
    return F.cross_entropy(logits, codes)


def gaussian_nll(
    mean: torch.Tensor, codes: torch.Tensor, log_std: torch.Tensor | None = None
) -> torch.Tensor:
    """-E[log N(c; mean, std^2)] summed over the code dimensions, averaged over the batch.

    Per dimension: (c - mean)^2 / (2 std^2) + log std + log(2 pi) / 2; std = 1 when
    ``log_std`` is None. Shapes: (N, n_cont).
    """
    if log_std is None:
        per = 0.5 * (codes - mean).square() + 0.5 * LOG_2PI
    else:
        per = 0.5 * ((codes - mean) * torch.exp(-log_std)).square() + log_std + 0.5 * LOG_2PI
    return per.sum(1).mean()


def best_permutation_accuracy(confusion) -> float:
    """Accuracy of ``confusion`` (codes x labels counts) under the best one-to-one matching of
    codes to labels (Hungarian algorithm); rectangular matrices match min(rows, cols) pairs."""
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(confusion, dtype=np.float64)
    total = c.sum()
    if total == 0:
        return 0.0
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].sum() / total)


class QHead(nn.Module):
    """D's features (N, F) -> code predictions: a list of logits (N, k_i), means (N, n_cont) and
    log-stds (N, n_cont) or None."""

    def __init__(
        self,
        feature_dim: int,
        categories: list[int],
        n_continuous: int,
        width: int,
        learn_std: bool,
        norm: str = "none",
    ):
        super().__init__()
        self.categories, self.n_continuous, self.learn_std = list(categories), n_continuous, learn_std
        n_out = sum(categories) + n_continuous * (2 if learn_std else 1)
        self.net = nn.Sequential(
            nn.Linear(feature_dim, width),
            *([nn.BatchNorm1d(width)] if norm == "batch" else []),
            nn.LeakyReLU(0.2),
            nn.Linear(width, n_out),
        )

    def forward(self, h: torch.Tensor):
        out = self.net(h)  # (N, sum k + n_cont [* 2])
        logits = list(torch.split(out[:, : sum(self.categories)], self.categories, dim=1))
        rest = out[:, sum(self.categories) :]
        mean = rest[:, : self.n_continuous]
        log_std = rest[:, self.n_continuous :] if self.learn_std else None
        return logits, mean, log_std


class InfoGAN(TwoPlayer):
    """TwoPlayer plus the codes in G's input and the Q head's mutual-information term."""

    def __init__(
        self,
        G,
        D,
        objective,
        penalties,
        n_critic,
        opts: InfoGANOptions,
        noise_dim: int,
        classifier: str | None = None,
        **extras,  # augment, gamma: as in TwoPlayer
    ):
        super().__init__(
            G, D, objective, penalties, n_critic, conditional=False, reuse_fake=opts.reuse_fake, **extras
        )
        self.categories = list(opts.n_categorical)
        self.n_continuous = opts.n_continuous
        self.noise_dim = noise_dim  # z's part of G's input; the codes follow it
        self.lambda_info, self.lambda_cont = opts.lambda_info, opts.lambda_cont
        self.code_eval = opts.code_eval
        self.q_in_g = opts.q_in_g
        self.classifier = classifier  # shipped classifier name for code_accuracy, or None
        self.Q = QHead(
            D.feature_dim, self.categories, self.n_continuous, opts.q_width, opts.learn_std, opts.q_norm
        )
        self._h = None  # D's features of the last d_forward call
        self._latent = None  # G's input of the last generated batch

    # --- players: Q belongs to D (and to G with q_in_g) --------------------------------------
    def parameters_of(self, player):
        own = super().parameters_of(player)
        return own + list(self.Q.parameters()) if player == "D" or self.q_in_g else own

    # --- latent codes ---------------------------------------------------------------------
    @property
    def code_dim(self) -> int:
        return sum(self.categories) + self.n_continuous

    def latent(self, z: torch.Tensor, cats: list[torch.Tensor], cont: torch.Tensor) -> torch.Tensor:
        """G's input (N, noise_dim + code_dim) from z (N, noise_dim), category indices (N,) each,
        continuous codes (N, n_cont)."""
        onehots = [F.one_hot(c, k).to(z.dtype) for c, k in zip(cats, self.categories, strict=True)]
        return torch.cat([z, *onehots, cont.to(z.dtype)], dim=1)

    def split_latent(self, latent: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Inverse of :meth:`latent`: (z, category indices, continuous codes)."""
        z, rest = latent[:, : self.noise_dim], latent[:, self.noise_dim :]
        blocks = torch.split(rest, [*self.categories, self.n_continuous], dim=1)
        return z, [b.argmax(1) for b in blocks[:-1]], blocks[-1]

    def noise(self, n, device, generator=None):
        z = torch.randn(n, self.noise_dim, device=device, generator=generator)
        cats = [torch.randint(k, (n,), device=device, generator=generator) for k in self.categories]
        cont = torch.rand(n, self.n_continuous, device=device, generator=generator) * 2 - 1
        return self.latent(z, cats, cont)

    # --- losses ---------------------------------------------------------------------------
    def generate(self, n, device, y):
        latent, fake = super().generate(n, device, y)
        self._latent = latent
        return latent, fake

    def d_forward(self, x, y):
        self._h = self.D.features(x, y)  # (N, F)
        return self.D.head(self._h, y)

    def info_loss(
        self, h_fake: torch.Tensor, latent: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted NLL of the codes of ``latent`` under Q(h_fake), and its parts."""
        _, cats, cont = self.split_latent(latent)
        logits, mean, log_std = self.Q(h_fake)
        zero = h_fake.new_zeros(())
        nll_cat = sum((categorical_nll(lg, c) for lg, c in zip(logits, cats, strict=True)), zero)
        nll_cont = gaussian_nll(mean, cont, log_std) if self.n_continuous else zero
        loss = self.lambda_info * (nll_cat + self.lambda_cont * nll_cont)
        return loss, {
            "info_loss": loss.detach(),
            "info_cat": nll_cat.detach(),
            "info_cont": nll_cont.detach(),
        }

    def _with_info(self, loss, logs, n_fake: int):
        info, parts = self.info_loss(self._h[-n_fake:], self._latent)
        self._h = None
        return loss + info, {**logs, **parts}

    def d_step(self, batch):
        loss, logs = super().d_step(batch)  # D's last call saw the detached fake batch
        return self._with_info(loss, logs, batch.x.shape[0])

    def g_step(self, batch):
        loss, logs = super().g_step(batch)
        return self._with_info(loss, logs, batch.x.shape[0])

    # --- evaluation -----------------------------------------------------------------------
    def traversal_latent(
        self, steps: int = 9, code: int = 0, lo: float = -2.0, hi: float = 2.0, seed: int = 0, device="cpu"
    ) -> tuple[torch.Tensor, int]:
        """G's inputs of the traversal grid and its column count: rows = the categories of the
        first categorical code, columns = ``steps`` values of continuous code ``code`` from
        ``lo`` to ``hi``; z and the other codes fixed. Without continuous codes the columns
        are different z; without categorical codes there is one row."""
        gen = torch.Generator().manual_seed(seed)
        base = self.noise(1, "cpu", generator=gen)  # (1, dim)
        z, cats, cont = self.split_latent(base)
        rows = self.categories[0] if self.categories else 1
        n = rows * steps
        row_of = torch.arange(n) // steps
        z = z.expand(n, -1).clone()
        if not self.n_continuous:
            z = torch.randn(steps, self.noise_dim, generator=gen).repeat(rows, 1)
        cats = [c.expand(n).clone() for c in cats]
        if self.categories:
            cats[0] = row_of
        cont = cont.expand(n, -1).clone()
        if self.n_continuous:
            if not 0 <= code < self.n_continuous:
                raise ConfigError(f"--code {code}: this run has continuous codes 0..{self.n_continuous - 1}")
            cont[:, code] = torch.linspace(lo, hi, steps).repeat(rows)
        return self.latent(z, cats, cont).to(device), steps

    @torch.no_grad()
    def code_accuracy(self, n: int, seed: int = 0) -> float:
        """Best-permutation accuracy of the first categorical code against the shipped
        classifier's label of ``n`` samples (codes cycling through the categories)."""
        from gankit.metrics.features import load_classifier, to_classifier_input

        clf = load_classifier(self.classifier)
        k = self.categories[0]
        gen = torch.Generator().manual_seed(seed)
        z, cats, cont = self.split_latent(self.noise(n, "cpu", generator=gen))
        cats[0] = torch.arange(n) % k
        device = next(self.G.parameters()).device
        was = self.G.training
        self.G.eval()
        try:
            fake = torch.cat(
                [
                    self.G(chunk.to(device)).float().cpu()
                    for chunk in torch.split(self.latent(z, cats, cont), 500)
                ]
            )
        finally:
            self.G.train(was)
        pred = torch.cat([clf.logits(to_classifier_input(c)).argmax(1) for c in torch.split(fake, 500)])
        confusion = np.zeros((k, 10))
        np.add.at(confusion, (cats[0].numpy(), pred.numpy()), 1)
        return best_permutation_accuracy(confusion)

    def stats(self):
        out = super().stats()
        if self.classifier and self.categories and self.code_eval:
            out["code_accuracy"] = self.code_accuracy(self.code_eval)
        return out

    def draw_pictures(self, trainer, folder):
        """The code traversal grid (``traverse.png``) of image runs at each evaluation."""
        if trainer.dataset.kind != "images":
            return {}
        from gankit.viz.images import image_grid, save_png

        latent, ncol = self.traversal_latent(device=trainer.device)
        G = trainer.sampling_generator()
        was = G.training
        G.eval()
        try:
            with torch.no_grad():
                fake = G(latent).float().cpu()
        finally:
            G.train(was)
        return {"traverse": save_png(image_grid(fake, ncol), folder / "traverse.png")}


def classifier_for(dataset) -> str | None:
    """The shipped classifier that labels ``dataset``'s images, if any."""
    from gankit.metrics.features import CLASSIFIERS

    key = getattr(dataset, "key", getattr(dataset, "name", ""))
    shape = tuple(getattr(dataset, "sample_shape", ()))
    if key in CLASSIFIERS and dataset.num_classes and len(shape) == 3 and shape[0] == 1:
        return key
    return None


# The paper's MNIST networks and optimizer (Chen et al. 2016, appendix C.1: G 1e-3, D 2e-4,
# batch 128), in a 14-minute budget.
INFOGAN_PRESET = Preset(
    {
        "data": "mnist",  # the paper's first experiment, for a run that names no data
        "batch_size": 128,
        "lr_g": 1e-3,
        "lr_d": 2e-4,
        "steps": 3000,
        "max_wall_s": 840.0,
        "eval_every": 500,
    },
    "benchmarks/results/infogan_mnist_lucic.json (seed 0: fid_lenet 1.74, class KL 0.004, code "
    "accuracy 0.76 at 10 CPU min, 0.86 at 30); defaults_mnist_infogan.json (the whole default "
    "process, one thread beside another run: 1,652 steps in 844 s, fid_lenet 1.81, code accuracy 0.63)",
    {"model": "lucic"},
)


@RECIPES.register("infogan", options=InfoGANOptions, presets=INFOGAN_PRESET)
def build_infogan(ctx: BuildContext) -> InfoGAN:
    """InfoGAN: categorical and continuous codes in G's input, a Q head on D's body, and the
    mutual-information term in both players' losses (Chen et al. 2016)."""
    opts: InfoGANOptions = ctx.options
    spec = model_spec(ctx)
    noise_dim = spec.z_dim
    spec = dataclasses.replace(spec, z_dim=noise_dim + sum(opts.n_categorical) + opts.n_continuous)
    nets = build_networks(ctx.cfg.model, spec, ctx.cfg.model_args)
    D = nets["D"]
    if not (hasattr(D, "features") and hasattr(D, "head") and getattr(D, "feature_dim", 0)):
        raise ConfigError(
            f"model {ctx.cfg.model!r} has no discriminator body (features/head) for InfoGAN's Q head; "
            "use mlp, dcgan or lucic"
        )
    return InfoGAN(
        nets["G"],
        D,
        ctx.objective,
        ctx.cfg.penalties,
        ctx.cfg.n_critic,
        opts,
        noise_dim,
        classifier_for(ctx.dataset),
        **recipe_extras(ctx, opts),
    )
