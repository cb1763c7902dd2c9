"""Presets of the image datasets: which networks, objective settings and budget a plain
``gankit train --data mnist`` (or fashion-mnist, stacked-mnist, cifar10, folder:) resolves to,
per recipe and objective, each with the benchmark row that measured it (docs/presets.md).
Declared here, beside the image datasets (``gankit/data/images.py``, ``folder.py``) that
register them."""

from __future__ import annotations

from gankit.presets import Preset

# Budget of the image presets: 14 minutes of wall time, the schedule fitted to it.
CPU_BUDGET_S = 840.0
DCGAN_ROW = (
    "benchmarks/results/dcgan_mnist_ns_15min.json (ns, batch 64, constant lr: fid_lenet 4.96, class KL 0.069 "
    "at 14.2 CPU min); with the decay over 14 minutes: benchmarks/results/defaults_mnist_dcgan.json (seed 0 "
    "alone on the 2-core machine: 8,000 steps in 597 s, fid_lenet 5.91, class KL 0.085)"
)
# The plain ns preset of an image dataset: DCGAN 28-64 px, batch 64, the decay fitted to 14 minutes.
DCGAN_PLAIN = {
    "model": "dcgan",
    "loss": "ns",
    "batch_size": 64,
    "steps": 8000,
    "max_wall_s": CPU_BUDGET_S,
    "lr_schedule": "linear-decay",
    "decay_start": 0.5,
    "eval_every": 1000,
}
# MNIST-like 28x28 grayscale: the networks of Lucic et al. 2018 (InfoGAN's MNIST networks) with
# InfoGAN's optimizer (G 1e-3, D 2e-4, batch 128). Measured against DCGAN on the idle 2-core
# machine: DCGAN's preset reached fid_lenet 5.91, class KL 0.085 in 8,000 steps (597 s); these
# networks fid_lenet 2.6, class KL 0.02 after 500 steps at one thread.
LUCIC_PLAIN = {
    "model": "lucic",
    "loss": "ns",
    "batch_size": 128,
    "lr_g": 1e-3,
    "lr_d": 2e-4,
    "steps": 10000,  # an upper bound: the 14-minute budget decides
    "max_wall_s": CPU_BUDGET_S,
    "lr_schedule": "linear-decay",
    "decay_start": 0.5,
    "eval_every": 500,
}
LUCIC_ROW = (
    "benchmarks/results/defaults_mnist.json (seed 0 alone on the 2-core machine: 2,867 steps in 834 s, "
    "fid_lenet 0.55, class KL 0.005; earlier 2,860 steps, 0.46 / 0.004; DCGAN's preset the same way: "
    "fid_lenet 5.91, class KL 0.085)"
)

R3GAN_ROW = "benchmarks/results/defaults_mnist_rpgan.json (one 14-minute run)"


def image_presets(source: str, plain: dict | None = None) -> tuple[Preset, ...]:
    """Presets of an image dataset, per recipe and objective; ``plain`` is the plain ns preset
    (default: DCGAN's), ``source`` names what measured it."""
    plain = plain or DCGAN_PLAIN
    when_ns = {"recipe": "plain", "loss": "ns"}
    extra = ()
    if plain is not DCGAN_PLAIN:
        # R3GAN's loss (its optimizer and R1 = R2 = 0.1 are the objective's defaults) on the
        # same networks and schedule; DCGAN's own preset when asked for.
        r3gan = {k: v for k, v in plain.items() if k not in ("loss", "lr_g", "lr_d")}
        extra = (
            Preset(r3gan, R3GAN_ROW, {"recipe": "plain", "loss": "rpgan", "model": plain["model"]}),
            Preset(DCGAN_PLAIN, DCGAN_ROW, {**when_ns, "model": "dcgan"}),
        )
    return (
        Preset(plain, source, {**when_ns, "model": plain["model"]}),
        *extra,
        # InfoGAN's paper networks (its own preset sets the optimizer and the budget).
        Preset({"model": "lucic"}, "benchmarks/results/infogan_mnist_lucic*.json", {"recipe": "infogan"}),
        Preset({"data.image_size": 32}, "progan grows by doubling from 4x4", {"recipe": "progressive"}),
        # BEGAN's best CPU-scale setting (docs/began_progan.md): gamma 1 keeps its k control engaged.
        Preset(
            {
                "model": "began",
                "data.image_size": 32,
                "loss.gamma": 1.0,
                "loss.lambda_k": 0.001,
                "max_wall_s": CPU_BUDGET_S,
                "steps": 20000,
            },
            "docs/began_progan.md (gamma 1, lambda_k 0.001, batch 16: mode dropping, fid_lenet 104-108 "
            "after 40 min); benchmarks/results/defaults_mnist_began.json (the 14-minute default, seed 0, "
            "1 thread beside another run: 6,824 steps in 833 s, fid_lenet 111, 2 classes)",
            {"recipe": "plain", "loss": "began"},
        ),
        # Other objectives: the image model, and the same wall budget, so that no default run
        # on a CPU takes more than 14 minutes (3,000 steps of wgan-gp would take hours).
        Preset(
            {"model": "dcgan", "max_wall_s": CPU_BUDGET_S},
            "unmeasured guess: the image model and the CPU budget for other objectives",
            {"recipe": "plain"},
        ),
    )
