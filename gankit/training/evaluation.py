"""Evaluation, a part of :class:`~gankit.training.trainer.Trainer`: sampling with fixed noise,
the dataset's metrics and inception hooks, the metrics log and pictures at every evaluation."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.training.runfolder import MetricsLog


class Evaluation:
    """The trainer's evaluation methods (mixed into Trainer; they use its networks and run folder)."""

    def sampling_generator(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.recipe.generator()

    def eval_noise(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fixed noise (and labels for conditional runs), the same at every evaluation."""
        gen = torch.Generator().manual_seed(self._eval_gen_seed)
        z = self.recipe.noise(n, "cpu", generator=gen)
        y = None
        if getattr(self.recipe, "conditional", False):
            y = torch.arange(n) % self.dataset.num_classes
        return z, y

    @torch.no_grad()
    def generate(self, n: int, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``n`` samples from fixed noise, in eval mode, on CPU; returns (samples, labels)."""
        z, y = self.eval_noise(n)
        G = self.sampling_generator()
        was_training = self.recipe.training
        self.recipe.eval()
        G.eval()
        try:
            parts = []
            for i in range(0, n, chunk):
                zi = z[i : i + chunk].to(self.device)
                yi = None if y is None else y[i : i + chunk].to(self.device)
                parts.append(self.recipe.sample(zi, yi, G=G).float().cpu())
        finally:
            self.recipe.train(was_training)
            G.train(was_training)
        return torch.cat(parts), y

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples (on CPU) from noise seeded by ``seed``, with the EMA generator if any."""
        z = self.recipe.noise(n, "cpu", generator=torch.Generator().manual_seed(seed))
        G = self.sampling_generator()
        was = G.training
        G.eval()
        try:
            out = self.recipe.sample(z.to(self.device), None if y is None else y.to(self.device), G=G)
        finally:
            G.train(was)
        return out.float().cpu()

    def evaluate(self, n: int | None = None) -> dict[str, Any]:
        n = n or self.cfg.n_eval
        metrics = self.recipe.evaluate(self.dataset, n, self.sampling_generator())
        if metrics is None:  # the usual case: n samples from fixed noise, judged by the dataset
            fake, labels = self.generate(n)
            metrics = self.dataset.evaluate(fake, labels)
        metrics.update(self.recipe.stats())
        metrics["n_samples"] = n
        return metrics

    def evaluate_and_log(self, wall_s: float, losses: dict[str, float]) -> dict[str, Any]:
        """Evaluate, log and draw, without touching the training RNG streams (metrics and
        pictures may build networks or draw samples; an interrupted run must resume exactly)."""
        if not self.is_main:
            return {}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            return self._evaluate_and_log(wall_s, losses)

    def _evaluate_and_log(self, wall_s: float, losses: dict[str, float]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "step": self.state.step,
            "images_seen": self.state.images_seen,
            "wall_s": round(wall_s, 3),
        }
        row.update(losses)
        try:
            row.update(self.evaluate())
            if self.cfg.inception_every:  # Inception FID/KID at their own interval
                from gankit.metrics.inception_eval import training_metrics

                row.update(training_metrics(self))
        except GankitError:
            raise
        except Exception as e:  # a metric failing must not kill training
            warnings.warn(
                f"evaluation failed at step {self.state.step}: {type(e).__name__}: {e}", stacklevel=2
            )
        try:  # a full disk or a logging error must not kill training either
            self.metrics_log.append(row)
            self.tb.scalars(self.state.step, {k: v for k, v in row.items() if k != "step"})
        except Exception as e:
            warnings.warn(
                f"logging metrics failed at step {self.state.step}: {type(e).__name__}: {e}", stacklevel=2
            )
        try:
            from gankit.viz.pictures import draw_run_pictures

            paths = draw_run_pictures(self, self.run_dir / "pictures")
            for tag, path in paths.items():
                self.tb.image(tag, path, self.state.step)
        except Exception as e:
            warnings.warn(f"pictures failed at step {self.state.step}: {type(e).__name__}: {e}", stacklevel=2)
        return row


def final_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The last row of a run's metrics.jsonl."""
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    return rows[-1] if rows else {}


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
