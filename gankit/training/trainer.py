"""The training loop: the one place that owns optimizers, backward, step, schedules,
checkpoints, evaluation and logging, for every recipe, objective and model.

A step is the recipe's phases in order, e.g. ``[Phase("D", n_critic), Phase("G", 1)]``;
each update draws a fresh real batch, asks the recipe for the player's loss, and steps that
player's optimizer. Progress is counted in steps (generator updates) and images seen.

The Trainer is carved along its responsibilities: the loop here; checkpoint state, saving,
loading and rollback in ``persistence.py``; sampling, metrics and pictures in ``evaluation.py``;
the step logs and the weight average in ``step_logs.py``; the optimizers, the learning-rate
schedule and the device in ``optimization.py``; the wall budget in ``budget.py``; the thread
choice in ``threads.py``; the display in ``progress.py``.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from gankit import config as config_mod
from gankit.config import Config
from gankit.data.base import build_dataset
from gankit.errors import ConfigError, DivergenceError, GankitError
from gankit.objectives.base import build_objective
from gankit.recipes.base import RECIPES, BuildContext, Recipe, build_recipe
from gankit.training import checkpoint as ckpt
from gankit.training import denormals, distributed, faults, threads
from gankit.training.budget import WallBudget
from gankit.training.evaluation import Evaluation, final_metrics, is_number  # noqa: F401  (re-exported)
from gankit.training.optimization import lr_factor, make_optimizer, pick_device  # noqa: F401  (re-exported)
from gankit.training.optimizer_view import OptimizerView
from gankit.training.persistence import Persistence, TrainState  # noqa: F401  (re-exported)
from gankit.training.progress import Progress
from gankit.training.runfolder import MetricsLog, TensorBoard, check_writable, default_out
from gankit.training.step_logs import LogSums, update_ema  # noqa: F401  (re-exported)


def build(cfg: Config) -> tuple[Any, Recipe]:
    """Dataset and recipe (networks, objective, state) for a resolved config."""
    dataset = build_dataset(cfg.data, cfg.data_args, cfg.data_dir)
    objective = build_objective(cfg.loss, cfg.loss_args)
    opts = RECIPES.resolve_options(cfg.recipe, cfg.recipe_args)
    recipe = build_recipe(BuildContext(cfg, dataset, objective, opts))
    return dataset, recipe


class Trainer(Persistence, Evaluation):
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
                checked = loss if self.world_size == 1 else None
                opt.zero_grad(set_to_none=True)
                params = self.player_params[phase.player]
                scaler = self.scalers.get(phase.player)
                if scaler is not None:  # fp16: scaled loss; inf gradients make the scaler skip
                    if not defer:  # but a NaN loss is divergence, not overflow
                        faults.check_update(checked, [], recipe, phase.player, self.state.step)
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
                        faults.check_update(checked, params, recipe, phase.player, self.state.step)
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
        elif cfg.max_wall_s > 0:  # the step count will depend on this machine's speed: say so
            bar.write(
                f"wall budget {cfg.max_wall_s:g} s: the step count (at most {cfg.steps}) is fitted to "
                "it once the speed is measured; for a fixed count: --steps N --set max_wall_s=0"
            )
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
            explicit = cfg.threads or self.state.threads  # a resume keeps the run's count
            want = threads.wanted(self.recipe, cfg.batch_size, threads.available_cores())
            self.threads = claim.enter_context(threads.claimed_by_job(want, explicit, self.world_size))
            self.state.threads = self.threads
        flush = self.device.type == "cpu" and denormals.set_flush_denormal(True)
        sharing = None  # gankit's own count follows the other programs starting and ending
        if self.device.type == "cpu" and not cfg.threads and self.world_size == 1:
            sharing = threads.Sharing(want, self.threads, flush, say=bar.write)
        try:
            if not resuming and (cfg.eval_on_start or cfg.steps == 0):  # the untrained generator
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
                if sharing is not None:
                    self.threads = self.state.threads = sharing.poll(now, step)
                if budget.after_step(self.state, now, now - t_start):  # the steps the budget allows
                    bar.set_total(budget.total(self.state))
                elif budget.due(self.state) and budget.reestimate(self.state, now, now - t_start):
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
                    if budget.reestimate(self.state, now, now - t_start):
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
