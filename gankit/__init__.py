"""gankit: generative adversarial networks on PyTorch.

Python API (the CLI is a thin layer over it)::

    import gankit
    run = gankit.train(data="25gaussians", loss="wgan-gp", steps=2000, out="runs/demo")
    x = run.sample(1000)              # (1000, 2) tensor
    run = gankit.load("runs/demo")    # latest checkpoint of a run folder
    print(run.evaluate())
"""

from __future__ import annotations

__version__ = "0.1.0"


def train(config=None, progress: bool = True, **overrides):
    """Train a run from a :class:`gankit.config.Config` (or keyword fields); returns the Trainer."""
    import dataclasses

    from gankit.config import Config, from_dict
    from gankit.training.trainer import Trainer

    if config is None:
        config = from_dict(overrides)
    elif overrides:
        config = dataclasses.replace(config, **overrides)
    elif not isinstance(config, Config):
        config = from_dict(dict(config))
    trainer = Trainer(config)
    trainer.fit(progress=progress)
    return trainer


def load(run_dir, device: str = "auto"):
    """The Trainer of a run folder at its newest good checkpoint (for sampling, eval, resume)."""
    from gankit.training.trainer import Trainer

    return Trainer.from_run(run_dir, overrides={"device": device})
