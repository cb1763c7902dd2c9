"""Wasserstein GAN objectives.

WGAN (Arjovsky et al. 2017, Algorithm 1) with weight clipping; WGAN-GP (Gulrajani et al. 2017,
Algorithm 1 for the losses and lambda = 10) is the same critic loss plus the gradient penalty of
``gankit.penalties``: the objective here only carries that penalty in its recommended defaults,
so the penalty composes with any other objective too.

WGAN-GP's Adam betas (0.5, 0.9) are not those of Algorithm 1 (alpha = 1e-4, beta1 = 0,
beta2 = 0.9): they are the authors' code for their toy and MNIST experiments
(igul222/improved_wgan_training, ``gan_toy.py`` and ``gan_mnist.py``: Adam 1e-4, beta1 0.5,
beta2 0.9, 5 critic iterations). ``--set betas=0,0.9`` gives Algorithm 1's.
"""

from __future__ import annotations

from gankit.objectives.base import OBJECTIVES, Objective, TrainDefaults


class _Wasserstein(Objective):
    """Critic: min E_Q[v] - E_P[v];  generator: min -E_Q[v]."""

    def d_loss(self, d_real, d_fake):
        return d_fake.mean() - d_real.mean()

    def g_loss(self, d_fake, d_real=None):
        return -d_fake.mean()


@OBJECTIVES.register("wgan")
class WGAN(_Wasserstein):
    """WGAN with weight clipping: RMSProp 5e-5, clip 0.01, 5 critic steps (Arjovsky et al. 2017)."""

    defaults = TrainDefaults(
        optimizer="rmsprop", lr_g=5e-5, lr_d=5e-5, betas=(0.0, 0.0), n_critic=5, clip=0.01
    )


@OBJECTIVES.register("wgan-gp")
class WGANGP(_Wasserstein):
    """WGAN-GP: critic loss plus lambda E[(||grad D(x_hat)||_2 - 1)^2], lambda 10, 5 critic steps
    (Gulrajani et al. 2017, Algorithm 1); Adam 1e-4 with betas (0.5, 0.9) of the authors' toy and
    MNIST code (Algorithm 1 itself: beta1 0, beta2 0.9; see the module docstring)."""

    defaults = TrainDefaults(
        optimizer="adam", lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.9), n_critic=5, penalties={"gp": 10.0}
    )
