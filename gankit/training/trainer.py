"""The training loop: the one place that owns optimizers, backward, step, schedules,
checkpoints, evaluation and logging, for every recipe, objective and model.

A step is the recipe's phases in order, e.g. ``[Phase("D", n_critic), Phase("G", 1)]``;
each update draws a fresh real batch, asks the recipe for the player's loss, and steps that
player's optimizer. Progress is counted in steps (generator updates) and images seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gankit import config as config_mod
from gankit.config import Config
from gankit.data.base import build_dataset
from gankit.errors import CheckpointError, ConfigError, DivergenceError, GankitError
from gankit.objectives.base import build_objective
from gankit.recipes.base import RECIPES, BuildContext, Recipe, build_recipe
from gankit.training import checkpoint as ckpt
from gankit.training import denormals, distributed, faults, threads
from gankit.training.budget import WallBudget
from gankit.training.optimizer_view import OptimizerView
from gankit.training.progress import Progress
from gankit.training.runfolder import MetricsLog, TensorBoard, check_writable, default_out


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here; use --device cpu or auto")
    return torch.device(name)


def make_optimizer(cfg: Config, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    # Fused kernels (one call for all parameters) where PyTorch has them: same update, less
    # per-parameter Python overhead, which dominates small GANs on CPU.
    fast = {"fused": True} if _fused_ok(params) else {}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), **fast)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.betas[0], **fast)


def _fused_ok(params: list[nn.Parameter]) -> bool:
    return bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def lr_factor(cfg: Config, step: int, total: int | None = None) -> float:
    """Learning-rate multiplier at ``step`` of ``total`` (default ``cfg.steps``; a wall budget's
    horizon): constant, or linear decay to 0 after the fraction decay_start of ``total``."""
    total = cfg.steps if total is None else total
    if cfg.lr_schedule == "constant" or total == 0:
        return 1.0
    start = cfg.decay_start * total
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(total - start, 1))


def build(cfg: Config) -> tuple[Any, Recipe]:
    """Dataset and recipe (networks, objective, state) for a resolved config."""
    dataset = build_dataset(cfg.data, cfg.data_args, cfg.data_dir)
    objective = build_objective(cfg.loss, cfg.loss_args)
    opts = RECIPES.resolve_options(cfg.recipe, cfg.recipe_args)
    recipe = build_recipe(BuildContext(cfg, dataset, objective, opts))
    return dataset, recipe


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


def update_ema(ema: AveragedModel, model: nn.Module) -> None:
    """``ema.update_parameters(model)`` without its wait for the GPU.

    AveragedModel keeps its update count ``n_averaged`` on the CPU and copies it to the
    parameters' device at every update, a blocking copy (the host waits until the GPU has caught
    up), although the EMA function ignores the count. Here the same function gets the same
    tensors in the same groups (by device and dtype), so the update is the same bit for bit, and
    the count is read where it lives."""
    ema_tensors = [*ema.module.parameters(), *ema.module.buffers()]
    model_tensors = [*model.parameters(), *model.buffers()]
    with torch.no_grad():
        if int(ema.n_averaged) == 0:  # the first update copies
            for e, m in zip(ema_tensors, model_tensors, strict=True):
                e.copy_(m)
        else:
            groups: dict[tuple, tuple[list, list]] = {}
            for e, m in zip(ema_tensors, model_tensors, strict=True):
                es, ms = groups.setdefault((e.device, e.dtype), ([], []))
                es.append(e.detach())
                ms.append(m.detach())
            for es, ms in groups.values():
                ema.multi_avg_fn(es, ms, ema.n_averaged)
        ema.n_averaged += 1


class LogSums:
    """Sums of the step logs since the last reset, read as means.

    With ``keep_tensors`` (on a GPU) a tensor is only kept: the step then adds no kernel and no
    synchronization for its logs; the kept values are summed on the device and read back
    together, one synchronization per read. Otherwise each value becomes a float at once.
    """

    def __init__(self, keep_tensors: bool = False):
        self.keep_tensors = keep_tensors
        self.reset()

    def reset(self) -> None:
        self.values: dict[str, list] = {}
        self.count = 0  # steps added since the reset

    def add(self, logs: dict[str, Any]) -> None:
        for k, v in logs.items():
            keep = self.keep_tensors and torch.is_tensor(v)
            self.values.setdefault(k, []).append(v.detach() if keep else float(v))
        self.count += 1

    def means(self, keys=None) -> dict[str, float]:
        """Means over the steps added of ``keys`` (default: all) that were logged."""
        keys = [k for k in (self.values if keys is None else keys) if k in self.values]
        totals = {}
        for k in keys:  # fold each list into one value so repeated reads stay short
            floats = [v for v in self.values[k] if not torch.is_tensor(v)]
            tensors = [v for v in self.values[k] if torch.is_tensor(v)]
            total = math.fsum(floats)
            if tensors:
                total = torch.stack(tensors).sum() + total
            self.values[k] = totals[k] = [total]
        on_device = [k for k in keys if torch.is_tensor(totals[k][0])]
        read = (
            dict(zip(on_device, torch.stack([totals[k][0] for k in on_device]).tolist())) if on_device else {}
        )
        n = max(self.count, 1)
        return {k: read.get(k, totals[k][0]) / n for k in keys}


class Trainer:
    """Build everything from a config, train, evaluate, checkpoint, resume.

    ``Trainer(cfg).fit()`` trains a new run; ``Trainer.from_run(dir).fit()`` resumes one.
    """

    def __init__(self, cfg: Config, run_dir: str | Path | None = None, resume_state: dict | None = None):
        self.cfg = config_mod.resolve(cfg)
        # Under torchrun: join the process group; each rank gets its device, data shard, noise.
        rank, world_size, device = distributed.init_from_env(self.cfg.device)
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.device = pick_device(device)
        torch.manual_seed(self.cfg.seed)  # the same initial weights on every rank
        self.dataset, self.recipe = build(self.cfg)
        if world_size > 1 and self.cfg.sync_bn:
            self.recipe = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.recipe)
        self.recipe.to(self.device)
        if self.device.type == "cuda":  # process-wide flags, as every CUDA training script sets them
            torch.backends.cudnn.deterministic = self.cfg.deterministic
            torch.backends.cudnn.benchmark = not self.cfg.deterministic
        distributed.broadcast_module(self.recipe)
        torch.manual_seed(self.cfg.seed + 7919 * rank)  # distinct noise per rank
        if self.cfg.compile:
            for name, child in self.recipe.named_children():
                if name != "objective":
                    child.compile()
        self.ema = None
        if self.cfg.ema > 0:
            self.ema = AveragedModel(
                self.recipe.generator(), multi_avg_fn=get_ema_multi_avg_fn(self.cfg.ema), use_buffers=True
            )
        self.optimizers = {}
        self.player_params = {p: self.recipe.parameters_of(p) for p in self.recipe.players}
        # (parameters built without requires_grad, e.g. fixed layers, are never switched on)
        self.frozen = {
            p: [q for q in self.recipe.frozen_during(p) if q.requires_grad] for p in self.recipe.players
        }
        self._frozen_now: list[nn.Parameter] = []  # requires_grad switched off by _freeze
        for player in self.recipe.players:
            lr = self.cfg.lr_g if player == "G" else self.cfg.lr_d
            self.optimizers[player] = make_optimizer(self.cfg, self.player_params[player], lr)
        self.base_lr = {p: [g["lr"] for g in o.param_groups] for p, o in self.optimizers.items()}
        # Read-only views for recipes that look ahead at an optimizer (the unrolled GAN).
        self.recipe.set_optimizer_views({p: OptimizerView(o) for p, o in self.optimizers.items()})
        # Mixed precision: autocast for the losses; fp16 also scales each player's loss.
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.cfg.precision)
        self.scalers = {}
        if self.cfg.precision == "fp16":
            self.scalers = {p: torch.amp.GradScaler(self.device.type) for p in self.optimizers}
        # On a GPU, NaN/inf checks stay on the device between check points (no sync per update).
        self.deferred = (
            faults.DeferredChecks(self.recipe.players, self.device) if self.device.type == "cuda" else None
        )
        self.can_defer = {p: faults.DeferredChecks.can_skip(o) for p, o in self.optimizers.items()}
        self.stream = self.dataset.stream(self.cfg.batch_size, self.cfg.seed, rank, world_size).to(
            self.device
        )
        self.state = TrainState()
        self.run_dir = Path(run_dir or self.cfg.out or default_out(self.cfg.data, self.cfg.loss))
        self.cfg.out = str(self.run_dir)
        self._eval_gen_seed = 1_000_003 + self.cfg.seed
        self._saved_step = -1  # step of the last checkpoint this process wrote
        self.resumed = resume_state is not None  # from a checkpoint (possibly one at step 0)
        if resume_state is not None:
            self.load_state(resume_state)
        agree = (lambda h: min(distributed.gather_objects(h))) if world_size > 1 else None
        self.budget = WallBudget(self.cfg, agree)  # the step count a wall budget allows
        self.budget.prepare(self.state)

    # --- construction from a run folder ---------------------------------------------------
    @classmethod
    def from_run(cls, run_dir: str | Path, overrides: dict[str, Any] | None = None, **kw) -> Trainer:
        """Resume ``run_dir`` from its newest good checkpoint; ``overrides`` may only change
        the keys a resume may change (e.g. ``steps``), others are refused by name."""
        run_dir = Path(run_dir)
        path, state = ckpt.load_latest(run_dir)
        saved = json.loads(state["config"])
        merged = dict(saved)
        for k, v in (overrides or {}).items():
            merged[k] = v
        cfg = config_mod.resolve(config_mod.from_dict(merged))
        # Compare with the saved config resolved again, so options added to a component after
        # the run was saved (with their defaults) do not count as a change.
        try:
            saved_now = config_mod.to_dict(config_mod.resolve(config_mod.from_dict(saved)))
        except ConfigError:
            saved_now = saved
        differing = config_mod.diff(saved_now, config_mod.to_dict(cfg))
        if differing:
            shown = ", ".join(
                f"{k} (saved {saved.get(k)!r}, now {getattr(cfg, k, None)!r})" for k in differing[:4]
            )
            raise ConfigError(f"cannot resume {run_dir} with a different config: {shown}")
        cfg.out = str(run_dir)
        return cls(cfg, run_dir=run_dir, resume_state=state, **kw)

    # --- state ----------------------------------------------------------------------------
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

    # --- the loop -------------------------------------------------------------------------
    def _prepare_folder(self, resuming: bool) -> None:
        if not self.is_main:
            return
        if (
            not resuming
            and (self.run_dir / "checkpoints").exists()
            and ckpt.list_checkpoints(self.run_dir / "checkpoints")
        ):
            raise GankitError(
                f"run folder {self.run_dir} already holds a run; use --resume {self.run_dir} "
                "to continue it or choose another --out"
            )
        check_writable(self.run_dir)
        try:  # a full disk here must be one clear line too, not a traceback
            (self.run_dir / "pictures").mkdir(exist_ok=True)
            cfg_path = self.run_dir / "config.json"
            ckpt.atomic_write_bytes(
                cfg_path, (json.dumps(config_mod.to_dict(self.cfg), indent=2) + "\n").encode()
            )
            self.metrics_log = MetricsLog(self.run_dir / "metrics.jsonl")
            # A fresh run drops the log of an attempt that failed before its first checkpoint.
            self.metrics_log.truncate_after(self.state.step if resuming else -1)
        except OSError as e:
            raise GankitError(
                f"cannot write to run folder {self.run_dir}: {e.strerror}; free space or choose another --out"
            ) from None
        self.tb = TensorBoard(self.run_dir / "tensorboard")

    def save_run(self, run_dir: str | Path) -> Path:
        """Write the current state as a new run folder (config.json, a checkpoint) that
        ``gankit train --resume run_dir`` continues; for callers that drive ``train_step``."""
        self.run_dir = Path(run_dir)
        self.cfg.out = str(self.run_dir)
        self._prepare_folder(resuming=False)
        return self.save_checkpoint()

    def _set_lr(self, step: int) -> None:
        factor = lr_factor(self.cfg, step, self.budget.total(self.state)) * self.state.lr_scale
        for p, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lr[p]):
                group["lr"] = base * factor

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step: every phase of the recipe, each update on a fresh real batch."""
        recipe, logs = self.recipe, {}
        recipe.set_progress(self.state.step, self.state.images_seen)
        recipe.begin_step()
        self._set_lr(self.state.step)
        for phase in recipe.phases():
            opt = self.optimizers[phase.player]
            self._freeze(phase.player)
            for _ in range(phase.repeats):
                batch = self.stream.next().to(self.device, non_blocking=True)
                with self.autocast():
                    loss, out = recipe.loss(phase.player, batch, self.state.step)
                defer = self.deferred is not None and self.can_defer[phase.player]
                # Multi-process: a NaN loss reaches every rank through the averaged gradients
                # and is caught there, so no rank leaves the collective alone.
                if not defer and self.world_size == 1 and not torch.isfinite(loss.detach()):
                    raise DivergenceError(
                        f"{phase.player} loss became {float(loss.detach())} at step {self.state.step}"
                    )
                opt.zero_grad(set_to_none=True)
                params = self.player_params[phase.player]
                scaler = self.scalers.get(phase.player)
                if scaler is not None:  # fp16: scaled loss; inf gradients make the scaler skip
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                    distributed.average_gradients(params)
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    distributed.average_gradients(params)
                    if defer:
                        self.deferred.guard(opt, phase.player, loss, params, self.state.step)
                    else:
                        faults.check_grads(params, recipe, phase.player, self.state.step)
                    opt.step()
                if phase.player == "D" and self.cfg.clip > 0:
                    with torch.no_grad():
                        for p in self.player_params["D"]:
                            p.clamp_(-self.cfg.clip, self.cfg.clip)
                with torch.no_grad():
                    recipe.after_update(phase.player)
                logs.update(out)
                if phase.player == "G" and self.ema is not None:
                    update_ema(self.ema, recipe.generator())
        self._freeze(None)
        self.state.step += 1
        self.state.images_seen += self.cfg.batch_size * self.world_size
        return logs

    def check_health(self) -> None:
        """At the loop's check points (every 25 steps, before every evaluation and checkpoint):
        the GPU's deferred NaN/inf verdicts, then the parameters themselves. Gradients are
        checked before every update, so a parameter turns non-finite only by overflow in an
        update; checking them every step cost a few percent of a small model's step."""
        if self.deferred is not None:
            self.deferred.raise_if_bad()
        faults.check_params(list(self.recipe.parameters()), self.recipe, self.state.step)

    def autocast(self):
        if self.amp_dtype is None and not torch.is_autocast_enabled(self.device.type):
            return contextlib.nullcontext()  # a disabled torch.autocast costs ~13 us per entry
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def _freeze(self, player: str | None) -> None:
        """requires_grad off for what ``player``'s update does not need; None: all back on.
        Only the parameters whose flag changes are touched."""
        frozen = self.frozen[player] if player is not None else []
        if frozen is self._frozen_now:
            return
        for p in self._frozen_now:
            p.requires_grad_(True)
        for p in frozen:
            p.requires_grad_(False)
        self._frozen_now = frozen

    def fit(self, progress: bool = True) -> dict[str, Any]:
        """Train to ``cfg.steps``; returns the final evaluation row."""
        resuming = self.state.step > 0 or self.resumed
        self._prepare_folder(resuming)
        cfg, budget = self.cfg, self.budget
        budget.prepare(self.state)
        bar = Progress(
            budget.total(self.state),
            self.state.step,
            cfg.progress,
            enabled=progress and self.is_main,
            images_per_step=cfg.batch_size * self.world_size,
        )
        if resuming:
            bar.write(f"resuming {self.run_dir} at step {self.state.step}")
        t_start = time.perf_counter() - self.state.wall_s
        sums = LogSums(keep_tensors=self.deferred is not None)  # losses since the last evaluation
        last_row: dict[str, Any] = {}
        main = self.dataset.main_metric()

        def shown() -> dict[str, float]:  # read when the display refreshes (a GPU: one sync)
            values = sums.means(("loss_d", "loss_g"))
            if main and last_row.get(main) is not None:  # marked with its evaluation's step
                values[f"{main}@{last_row['step']}"] = last_row[main]
            return values

        # SIGINT/SIGTERM: acknowledged at once, a checkpoint at the next step boundary
        stop = faults.StopSignals(announce=self.is_main).install()
        # Denormal floats (weights and Adam moments decaying towards 0) make CPU kernels slower
        # and slower as training goes on; flushing them to zero keeps the rate. Set in every
        # intra-op thread (torch's flag is per thread; see denormals.py) after the thread count
        # is chosen, and switched off again when fit returns.
        claim = contextlib.ExitStack()  # CPU threads: the model's best, cores others leave free
        if self.device.type == "cpu":
            wanted = cfg.threads or self.state.threads
            self.threads = claim.enter_context(threads.claimed(cfg.model, wanted))
            self.state.threads = self.threads
        flush = self.device.type == "cpu" and denormals.set_flush_denormal(True)
        try:
            if not resuming:  # step 0: the untrained generator (all of a --steps 0 run)
                t_eval = time.perf_counter()
                last_row = self.evaluate_and_log(t_eval - t_start, {})
                budget.add_overhead(time.perf_counter() - t_eval)  # the cost of one evaluation
                if cfg.steps == 0:
                    self.save_checkpoint()
            budget.start(time.perf_counter(), self.state.step)
            if (
                cfg.on_nan == "rollback"
                and self.is_main
                and not ckpt.list_checkpoints(self.run_dir / "checkpoints")
            ):
                self.save_checkpoint()  # something to roll back to before the first regular one
            ckpt_every = cfg.ckpt_every or cfg.eval_every
            while self.state.step < budget.total(self.state):
                try:
                    logs = self.train_step()
                    step = self.state.step
                    if (
                        step % 25 == 0
                        or step % cfg.eval_every == 0
                        or step % ckpt_every == 0
                        or step == budget.total(self.state)
                    ):
                        self.check_health()
                except DivergenceError as e:
                    self._rollback(e)  # raises unless on_nan=rollback and rollbacks are left
                    sums.reset()
                    continue
                sums.add(logs)  # on a GPU: kept on the device, read at check points
                step = self.state.step
                now = time.perf_counter()
                if budget.after_step(self.state, now, now - t_start):  # the steps the budget allows
                    bar.set_total(budget.total(self.state))
                total = budget.total(self.state)
                # A wall-clock budget (cumulative over resumes) ends the run like its last step.
                out_of_time = cfg.max_wall_s > 0 and time.perf_counter() - t_start >= cfg.max_wall_s
                stopping = stop.signum is not None
                if self.world_size > 1:  # every rank stops at the same step, or none does
                    stopping, out_of_time = distributed.any_flags(stopping, out_of_time)
                bar.update(step, shown)
                t_eval = time.perf_counter()
                evaluating = step % cfg.eval_every == 0 or step == total or out_of_time
                if evaluating:
                    self.state.wall_s = time.perf_counter() - t_start
                    last_row = self.evaluate_and_log(self.state.wall_s, sums.means())
                    sums.reset()
                if step % ckpt_every == 0 or step == total or out_of_time:
                    evaluating = True
                    now = time.perf_counter()
                    if budget.before_checkpoint(self.state, now, now - t_start):
                        bar.set_total(budget.total(self.state))
                    self.state.wall_s = time.perf_counter() - t_start
                    self.save_checkpoint()
                if evaluating:  # what evaluations and checkpoints cost, for the budget's plan
                    budget.add_overhead(time.perf_counter() - t_eval)
                if stopping and self.state.step < budget.total(self.state):
                    if self._saved_step != step:
                        self.state.wall_s = time.perf_counter() - t_start
                        self.save_checkpoint()
                    raise faults.TrainingStopped(
                        f"{stop.name or 'stop signal (another process)'} received at step {step}; "
                        "checkpoint saved. Resume with: "
                        f"gankit train --resume {self.run_dir}",
                        stop.exit_code,
                    )
                if out_of_time:
                    bar.write(
                        f"stopped at step {step}: wall-clock budget max_wall_s={cfg.max_wall_s:g} reached"
                    )
                    break
        except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
            if faults.is_out_of_memory(e):
                raise faults.out_of_memory(e, cfg, self.device, self.state.step) from None
            raise
        except KeyboardInterrupt:  # a second Ctrl-C: maybe mid-step, so nothing is saved
            last = ckpt.list_checkpoints(self.run_dir / "checkpoints")
            where = f"the last checkpoint is {last[-1].name}" if last else "no checkpoint was saved"
            raise faults.TrainingStopped(
                f"interrupted again at step {self.state.step}, nothing saved; {where}. Resume with: "
                f"gankit train --resume {self.run_dir}",
                130,
            ) from None
        finally:
            claim.close()
            stop.restore()
            bar.close()
            if flush:
                denormals.set_flush_denormal(False)
        if self.is_main and getattr(self, "tb", None) is not None:
            self.tb.close()
        return last_row

    # --- evaluation -----------------------------------------------------------------------
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


def final_metrics(run_dir: str | Path) -> dict[str, Any]:
    """The last row of a run's metrics.jsonl."""
    rows = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    return rows[-1] if rows else {}


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
