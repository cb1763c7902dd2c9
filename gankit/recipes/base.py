"""The recipe contract: how networks and an objective turn a batch into each player's loss.

A recipe is an ``nn.Module`` holding the networks, the objective and any state (buffers), so
one ``state_dict`` carries everything a checkpoint needs. It never calls ``backward`` or
``step``: the training loop does, for the parameters ``parameters_of(player)`` returns, in
the order ``phases()`` gives.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit.data.base import Batch, Dataset
from gankit.objectives.base import Objective
from gankit.registry import Registry

RECIPES = Registry("recipe")


@dataclasses.dataclass(frozen=True)
class Phase:
    """One update of ``player`` repeated ``repeats`` times per training step."""

    player: str
    repeats: int = 1


@dataclasses.dataclass
class BuildContext:
    """What a recipe factory gets: the resolved config, the dataset and the objective."""

    cfg: object  # gankit.config.Config, resolved
    dataset: Dataset
    objective: Objective
    options: object  # the recipe's own options dataclass (or None)


class Recipe(nn.Module):
    players: tuple[str, ...] = ("D", "G")

    def parameters_of(self, player: str) -> list[nn.Parameter]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def loss(self, player: str, batch: Batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar loss ``player`` minimizes on ``batch``, and detached scalars to log."""
        raise NotImplementedError

    def frozen_during(self, player: str) -> list[nn.Parameter]:
        """Parameters that need no gradient while ``player`` updates (the loop switches their
        ``requires_grad`` off, saving the opponent's weight gradients). Default: every other
        player's parameters that ``player`` does not share."""
        own = {id(p) for p in self.parameters_of(player)}
        return [
            p
            for other in self.players
            if other != player
            for p in self.parameters_of(other)
            if id(p) not in own
        ]

    def set_optimizer_views(self, views: dict) -> None:
        """The loop hands each player's optimizer as a read-only
        :class:`~gankit.training.optimizer_view.OptimizerView` (kept outside the state)."""
        self.__dict__["_optimizer_views"] = dict(views)

    def optimizer_view(self, player: str):
        """``player``'s optimizer view, or None outside the loop."""
        return self.__dict__.get("_optimizer_views", {}).get(player)

    def begin_step(self) -> None:
        """Called by the loop at the start of every training step (before its first phase)."""

    def after_update(self, player: str) -> None:
        """State updates after ``player``'s optimizer step (under no_grad)."""

    def set_progress(self, step: int, images_seen: int) -> None:
        """Schedules driven by training progress (ProGAN's resolution and fade-in)."""

    def generator(self) -> nn.Module:
        """The module whose weights are averaged (EMA) and exported."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(
        self, z: torch.Tensor, y: torch.Tensor | None = None, G: nn.Module | None = None
    ) -> torch.Tensor:
        """Generated samples for noise ``z`` (N, z_dim); ``G`` overrides (e.g. the EMA copy)."""
        raise NotImplementedError

    def noise(self, n: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The discriminator's output on ``x`` (for pictures of its field)."""
        raise NotImplementedError

    def evaluate(self, dataset: Dataset, n: int, G: nn.Module) -> dict[str, float] | None:
        """Metrics for recipes whose outputs are not samples from noise (CycleGAN translates the
        dataset's test images with ``G``, the EMA copy if any); None: the loop draws ``n``
        samples and calls ``dataset.evaluate``."""
        return None

    def stats(self) -> dict[str, float]:
        """Scalars of the recipe's state worth logging at evaluation."""
        return {}

    def rank_local_modules(self) -> dict[str, nn.Module]:
        """Submodules whose state differs between processes (CycleGAN's image pools fill with
        each rank's own fakes). Checkpoints keep every rank's copy, so a multi-process resume
        restores each rank's own; the rest of the recipe is identical on every rank."""
        return {}


def build_recipe(ctx: BuildContext) -> Recipe:
    name = ctx.cfg.recipe
    entry = RECIPES.get(name)
    return entry.factory(ctx)
