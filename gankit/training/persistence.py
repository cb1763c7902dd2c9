"""Persistence, a part of :class:`~gankit.training.trainer.Trainer`: the state a checkpoint
carries (networks, optimizers, RNGs, streams, budget, threads), saving and loading it, saving a
run folder elsewhere, and rolling back to the last good checkpoint after a divergence."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit import config as config_mod
from gankit.errors import CheckpointError, DivergenceError, GankitError
from gankit.training import checkpoint as ckpt
from gankit.training import distributed, faults


@dataclasses.dataclass
class TrainState:
    step: int = 0
    images_seen: int = 0
    wall_s: float = 0.0
    rollbacks: int = 0
    lr_scale: float = 1.0  # product of the rollback learning-rate factors (on_nan=rollback)
    horizon: int = 0  # steps the schedule and the run follow (training/budget.py); 0: not fixed yet
    horizon_of: list = dataclasses.field(default_factory=list)  # [steps, max_wall_s] it was fitted to
    # CPU threads the run trains with, chosen at its first fit (training/threads.py); a resume
    # keeps them unless --threads says otherwise: how work is split between threads changes the
    # float sums, so the same count is what makes a resume equal the uninterrupted run.
    threads: int = 0


class Persistence:
    """The trainer's checkpoint methods (mixed into Trainer)."""

    def rng_state(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state(), "stream": self.stream.state_dict()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        local = self.recipe.rank_local_modules()
        if local:  # e.g. CycleGAN's pools: each rank's own, restored to the same rank
            rng["local"] = {
                name: {k: v.detach().cpu() for k, v in m.state_dict().items()} for name, m in local.items()
            }
        return rng

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue exactly. Collective under torchrun: every rank must call it
        (each rank's RNG and data-stream state are gathered into ``rng_ranks``)."""
        rng = self.rng_state()
        ranks = distributed.gather_objects(rng) if self.world_size > 1 else [rng]
        return {
            "rng_ranks": ranks,
            "config": json.dumps(config_mod.to_dict(self.cfg)),
            "train": dataclasses.asdict(self.state),
            "recipe": self.recipe.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizers": {p: o.state_dict() for p, o in self.optimizers.items()},
            "scalers": {p: sc.state_dict() for p, sc in self.scalers.items()},
            "rng": rng,
            "world_size": self.world_size,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        try:
            self.recipe.load_state_dict(state["recipe"])
            for p, o in self.optimizers.items():
                o.load_state_dict(state["optimizers"][p])
            for p, sc in self.scalers.items():
                sc.load_state_dict(state["scalers"][p])
            if self.ema is not None:
                self.ema.load_state_dict(state["ema"])
            self.state = TrainState(**state["train"])
            saved_world = int(state.get("world_size", 1))
            distributed.check_resume_world(saved_world, self.world_size, self.cfg.allow_world_size_change)
            ranks = state.get("rng_ranks") or [state["rng"]]
            rng = ranks[self.rank] if self.rank < len(ranks) else None
            if rng is not None and saved_world == self.world_size:
                self.stream.load_state_dict(rng["stream"])
                torch.set_rng_state(rng["torch"])
                if "cuda" in rng and self.device.type == "cuda":
                    torch.cuda.set_rng_state(rng["cuda"], self.device)
                for name, m in self.recipe.rank_local_modules().items():
                    if name in rng.get("local", {}):
                        m.load_state_dict(rng["local"][name])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint does not fit this run's model: {str(e).splitlines()[0][:200]}"
            ) from None

    def save_run(self, run_dir: str | Path) -> Path:
        """Write the current state as a new run folder (config.json, a checkpoint) that
        ``gankit train --resume run_dir`` continues; for callers that drive ``train_step``."""
        self.run_dir = Path(run_dir)
        self.cfg.out = str(self.run_dir)
        self._prepare_folder(resuming=False)
        return self.save_checkpoint()

    def _rollback(self, error: DivergenceError) -> None:
        """``on_nan=rollback``: reload the newest good checkpoint and scale the learning rates
        by ``faults.ROLLBACK_LR_FACTOR`` (kept in the state, so resume is exact); else re-raise
        ``error`` naming the last good checkpoint."""
        folder = self.run_dir / "checkpoints"
        good = ckpt.list_checkpoints(folder)
        where = f"the last good checkpoint is {good[-1]}" if good else "no checkpoint was saved"
        if self.cfg.on_nan != "rollback":
            raise DivergenceError(
                f"{error}; {where} (--on-nan rollback retries with lower learning rates)"
            ) from None
        if self.state.rollbacks >= self.cfg.max_rollbacks:
            raise DivergenceError(
                f"{error}; gave up after {self.state.rollbacks} rollbacks (max_rollbacks="
                f"{self.cfg.max_rollbacks}); {where}"
            ) from None
        try:
            path, state = ckpt.load_latest(self.run_dir)
        except CheckpointError as e:
            raise DivergenceError(f"{error}; cannot roll back: {e}") from None
        rollbacks, scale = self.state.rollbacks + 1, self.state.lr_scale * faults.ROLLBACK_LR_FACTOR
        self.load_state(state)
        if self.deferred is not None:  # the flagged updates are undone with the reload
            self.deferred = faults.DeferredChecks(self.recipe.players, self.device)
        self.state.rollbacks, self.state.lr_scale = rollbacks, scale
        if self.is_main and getattr(self, "metrics_log", None) is not None:
            self.metrics_log.truncate_after(self.state.step)
        warnings.warn(
            f"{error}; rolled back to {path.name} (step {self.state.step}) with learning rates x{scale:g} "
            f"(rollback {rollbacks} of at most {self.cfg.max_rollbacks})",
            stacklevel=2,
        )

    def save_checkpoint(self) -> Path | None:
        # Never save after a bad update; the GPU's deferred verdicts here, the parameters and
        # buffers themselves below (check_health's parameter scan would repeat that one).
        if self.deferred is not None:
            self.deferred.raise_if_bad()
        state = self.state_dict()  # collective under torchrun
        if not self.is_main:
            self._saved_step = self.state.step
            return None
        for t in self.recipe.state_dict().values():
            if t.is_floating_point() and not torch.isfinite(t).all():
                raise DivergenceError(
                    f"parameters hold NaN or inf at step {self.state.step}; the last good "
                    f"checkpoint in {self.run_dir / 'checkpoints'} is kept"
                )
        try:
            path = ckpt.save_checkpoint(
                self.run_dir / "checkpoints", self.state.step, state, self.cfg.keep_ckpts
            )
            self._saved_step = self.state.step
            return path
        except OSError as e:
            raise GankitError(
                f"cannot write checkpoint to {self.run_dir / 'checkpoints'}: {e.strerror}; "
                "the last good checkpoint is intact"
            ) from None
