"""The options of the mode-collapse remedies, keys of the plain recipe's ``recipe_args``.

``--set recipe.pack=4``, ``--set recipe.feature_matching=add``, ... Every option is off by
default; each composes with any objective and any model whose discriminator follows the
network contract (``D.features``, ``D.head``, ``D.feature_dim``).
"""

from __future__ import annotations

import dataclasses
import functools

from gankit.errors import require

FM_MODES = ("off", "add", "replace")
UNROLL_INNER = ("optimizer", "sgd")


@dataclasses.dataclass
class TrickOptions:
    # Feature matching (Salimans et al. 2016, sec. 3.1): G also (add) or only (replace)
    # minimizes ||E f(x) - E f(G(z))||^2 on D's features f.
    feature_matching: str = "off"  # off | add | replace
    fm_weight: float = 1.0  # weight of the feature-matching term
    # Minibatch discrimination (sec. 3.2): B kernels of C dims on D's features; 0: off (paper B=100).
    minibatch_disc: int = 0
    mbd_dims: int = 5  # C, dimensions per kernel
    # Minibatch standard deviation feature (Karras et al. 2018, sec. 3): group size; 0: off (ProGAN 4).
    mbstd: int = 0
    # Historical averaging (sec. 3.3): weight of ||theta - mean of past theta||^2 per player; 0: off.
    hist_avg_d: float = 0.0
    hist_avg_g: float = 0.0
    # Virtual batch normalization (sec. 3.4) in G: reference batch size; 0: off. Needs G with batch norm.
    vbn: int = 0
    # PacGAN (Lin et al. 2018): D judges packs of m samples (all real or all fake); 1: off.
    pack: int = 1
    # Unrolled GAN (Metz et al. 2017): G's loss through unroll_steps differentiable D updates.
    unrolled: bool = False
    unroll_steps: int = 5  # k (the paper uses 5 to 10)
    unroll_lr: float = 0.0  # learning rate of the unrolled D steps; 0: D's current learning rate
    # optimizer: unroll D's own optimizer (Adam) from its current moments, as the paper does;
    # sgd: plain steps theta - lr * g (eq. 7 as written)
    unroll_inner: str = "optimizer"

    def check(self):
        need = functools.partial(require, owner=self, prefix="recipe option ")

        need(self.feature_matching in FM_MODES, "feature_matching", " | ".join(FM_MODES))
        need(self.fm_weight > 0, "fm_weight", "a number > 0")
        need(self.minibatch_disc >= 0, "minibatch_disc", "an integer >= 0 (0: off)")
        need(self.mbd_dims >= 1, "mbd_dims", "an integer >= 1")
        need(self.mbstd >= 0, "mbstd", "an integer >= 0 (0: off), e.g. 4")
        need(self.hist_avg_d >= 0, "hist_avg_d", "a number >= 0 (0: off)")
        need(self.hist_avg_g >= 0, "hist_avg_g", "a number >= 0 (0: off)")
        need(self.vbn >= 0, "vbn", "an integer >= 0 (0: off), e.g. 64")
        need(self.pack >= 1, "pack", "an integer >= 1 (1: off; PacGAN uses 2 to 4)")
        need(self.unroll_steps >= 1, "unroll_steps", "an integer >= 1")
        need(self.unroll_lr >= 0, "unroll_lr", "a number >= 0 (0: D's learning rate)")
        need(self.unroll_inner in UNROLL_INNER, "unroll_inner", " | ".join(UNROLL_INNER))

    def game_hooks(self) -> bool:
        """True when the losses change (the recipe needs a :class:`~gankit.tricks.game.Tricks`)."""
        return self.feature_matching != "off" or bool(self.hist_avg_d or self.hist_avg_g) or self.unrolled

    def network_wrappers(self) -> bool:
        return bool(self.minibatch_disc or self.mbstd or self.vbn or self.pack > 1)
