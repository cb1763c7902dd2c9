"""Running an arena: every (objective, seed) as a normal run folder, in parallel worker processes.

Layout of ``OUT``::

    arena.json            the arena's settings (data, model, --set options); checked on resume
    runs/<loss>-s<seed>/  a normal gankit run folder, plus arena_status.json from its worker
    results.json          see gankit.arena.results
    report.html, summary.png

A run is *done* when its newest checkpoint is at ``steps``, or its worker recorded that it
stopped on the wall-clock budget or diverged (repeating it would give the same answer).
A run with a checkpoint before that resumes from it (``Trainer.from_run``); a folder without
a checkpoint is started afresh.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from gankit import config as config_mod
from gankit.errors import ConfigError, GankitError

STATUS_FILE = "arena_status.json"
SETTINGS_FILE = "arena.json"
# Config keys the arena sets for each run itself; --set may not change them.
ARENA_KEYS = ("data", "model", "loss", "seed", "steps", "max_wall_s", "out", "progress", "resume", "device")


@dataclasses.dataclass
class ArenaSpec:
    data: str
    losses: list[str]
    seeds: list[int]
    steps: int
    out: str
    model: str = "mlp"
    budget_s: float = 0.0  # per run, wall-clock; 0: none
    jobs: int = 0  # 0: the CPUs this process may use
    sets: list[str] = dataclasses.field(default_factory=list)  # KEY=VALUE, as gankit train --set
    evals: int = 10  # evaluations per run when eval_every is not set
    device: str = "auto"  # every run's device: auto | cpu | cuda | cuda:N (may change on resume)
    rank_by: str | None = None  # a logged metric to rank by instead of the data's main metric

    def run_name(self, loss: str, seed: int) -> str:
        return f"{loss}-s{seed}"

    def run_dir(self, loss: str, seed: int) -> Path:
        return Path(self.out) / "runs" / self.run_name(loss, seed)


def all_losses() -> list[str]:
    from gankit import registries

    return list(registries.OBJECTIVES.names())


def parse_losses(text: str) -> list[str]:
    """``"all"`` or a comma-separated list of registered objectives, in the given order."""
    from gankit import registries

    if text.strip().lower() == "all":
        return all_losses()
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--losses: give a comma-separated list of objectives or 'all'")
    for n in names:
        registries.OBJECTIVES.get(n)  # raises with the valid names
    if len(set(names)) != len(names):
        raise ConfigError(f"--losses {text!r}: an objective is listed twice")
    return names


def base_config(spec: ArenaSpec) -> dict[str, Any]:
    """The config dict shared by every run (before loss, seed, out)."""
    d: dict[str, Any] = {}
    for assignment in spec.sets:
        config_mod.apply_set(d, assignment)
    fixed = sorted(set(d) & set(ARENA_KEYS))
    if fixed:
        raise ConfigError(
            f"--set {fixed[0]}: the arena sets this itself; use the arena's own flag (--data, --losses, "
            "--seeds, --steps, --model, --budget-s, --device, --out)"
        )
    d["data"], d["model"], d["steps"] = spec.data, spec.model, spec.steps
    d["max_wall_s"] = spec.budget_s
    d["device"] = spec.device
    d["progress"] = "none"
    d.setdefault("eval_every", max(1, spec.steps // max(spec.evals, 1)))
    if spec.rank_by and spec.rank_by.endswith("_inception"):
        d.setdefault("inception_every", spec.steps)  # at the last evaluation only
    return d


def run_config(spec: ArenaSpec, loss: str, seed: int) -> dict[str, Any]:
    d = base_config(spec)
    d.update(loss=loss, seed=seed, out=str(spec.run_dir(loss, seed)))
    return d


def check_configs(spec: ArenaSpec, drop_unfit: bool = False, log=print) -> list[str]:
    """Resolve every run's config and build its networks once in this process, so mistakes
    surface before any worker starts. With ``drop_unfit`` (``--losses all``) an objective that
    cannot work with the model (e.g. BEGAN needs an autoencoder D) is left out with a note;
    otherwise it is an error. Returns the objectives kept."""
    from gankit.data.base import build_dataset
    from gankit.objectives.base import build_objective
    from gankit.recipes.base import RECIPES, BuildContext, build_recipe

    kept, dataset = [], None
    for loss in spec.losses:
        cfg = config_mod.resolve(config_mod.from_dict(run_config(spec, loss, spec.seeds[0])))
        if dataset is None:
            dataset = build_dataset(cfg.data, cfg.data_args, cfg.data_dir)
        try:
            opts = RECIPES.resolve_options(cfg.recipe, cfg.recipe_args)
            build_recipe(BuildContext(cfg, dataset, build_objective(cfg.loss, cfg.loss_args), opts))
        except ConfigError as e:
            if not drop_unfit:
                raise
            log(f"arena: leaving out {loss}: {e}")
            continue
        kept.append(loss)
    if not kept:
        raise ConfigError(f"no objective works with model {spec.model!r} on {spec.data!r}")
    return kept


def latest_step(run_dir: Path) -> int | None:
    """Step of the newest checkpoint manifest, or None without one (checksums checked on load)."""
    from gankit.training import checkpoint as ckpt

    found = ckpt.list_checkpoints(Path(run_dir) / "checkpoints")
    if not found:
        return None
    try:
        return int(json.loads(found[-1].with_suffix(".json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_status(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def plan_run(run_dir: Path, steps: int, budget_s: float = 0.0) -> str:
    """``done``, ``resume`` or ``fresh`` for one run folder."""
    step = latest_step(run_dir)
    if step is not None and step >= steps:
        return "done"
    st = read_status(run_dir)
    if st.get("steps") == steps and (
        st.get("status") == "diverged"
        or (st.get("status") == "budget" and budget_s > 0 and st.get("max_wall_s", 0) >= budget_s)
    ):
        return "done"
    return "fresh" if step is None else "resume"


def _init_worker(threads: int) -> None:
    """Each worker uses ``threads`` threads so ``jobs`` workers together fit the cores."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def train_one(cfg_dict: dict[str, Any], action: str) -> dict[str, Any]:
    """Worker: train (or resume) one run folder; never raises, records its outcome."""
    from gankit.errors import DivergenceError
    from gankit.training.trainer import Trainer

    run_dir = Path(cfg_dict["out"])
    t0 = time.perf_counter()
    status: dict[str, Any] = {
        "status": "error",
        "action": action,
        "steps": cfg_dict["steps"],
        "max_wall_s": cfg_dict["max_wall_s"],
        "error": None,
    }
    try:
        if action == "resume":
            overrides = {k: cfg_dict[k] for k in ("steps", "max_wall_s", "progress", "device")}
            trainer = Trainer.from_run(run_dir, overrides=overrides)
        else:
            if run_dir.exists():  # a folder without a checkpoint: nothing to keep
                shutil.rmtree(run_dir)
            trainer = Trainer(config_mod.from_dict(cfg_dict), run_dir=run_dir)
        status["main_metric"] = trainer.dataset.main_metric()
        trainer.fit(progress=False)
        status["status"] = "finished" if trainer.state.step >= cfg_dict["steps"] else "budget"
        status["step"] = trainer.state.step
    except DivergenceError as e:
        status.update(status="diverged", error=str(e))
    except GankitError as e:
        status["error"] = str(e)
    except Exception as e:  # a crash in one run must not stop the others
        status["error"] = f"{type(e).__name__}: {e}"
    status["seconds"] = round(time.perf_counter() - t0, 3)
    if run_dir.is_dir():
        tmp = run_dir / f".{STATUS_FILE}.tmp"
        tmp.write_text(json.dumps(status, indent=2) + "\n")
        tmp.replace(run_dir / STATUS_FILE)
    return status


def earlier_losses(spec: ArenaSpec) -> list[str]:
    """Objectives with run folders in ``OUT/runs`` (from earlier invocations) that ``spec`` does
    not list, in name order: a rerun with fewer ``--losses`` keeps their results."""
    from gankit import registries

    found = set()
    folder = Path(spec.out) / "runs"
    for run_dir in folder.iterdir() if folder.is_dir() else []:
        loss, sep, seed = run_dir.name.rpartition("-s")
        if sep and seed.isdigit() and run_dir.is_dir() and loss in registries.OBJECTIVES:
            found.add(loss)
    return sorted(found - set(spec.losses))


def settings_of(spec: ArenaSpec) -> dict[str, Any]:
    """What must match when an arena folder is reused (losses, seeds and steps may change)."""
    return {"data": spec.data, "model": spec.model, "sets": list(spec.sets)}


def _check_settings(spec: ArenaSpec) -> None:
    path = Path(spec.out) / SETTINGS_FILE
    mine = settings_of(spec)
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
        differ = [k for k in mine if saved.get(k) != mine[k]]
        if differ:
            k = differ[0]
            raise GankitError(
                f"{spec.out} holds an arena with {k}={saved.get(k)!r}, not {mine[k]!r}; "
                "rerun with the same settings to resume it, or choose another --out"
            )
    from gankit.training.runfolder import check_writable

    check_writable(Path(spec.out), what="arena folder", flag="--out")
    try:
        path.write_text(json.dumps(mine, indent=2) + "\n")
    except OSError as e:
        raise GankitError(f"cannot write {path}: {e.strerror}; choose another --out") from None


def run_arena(spec: ArenaSpec, log=print, drop_unfit: bool = False) -> dict[str, str]:
    """Train every missing or unfinished run; returns ``{run name: action}`` with action one of
    ``done`` (skipped), ``fresh``, ``resume``; each worker's outcome is in its arena_status.json."""
    if spec.steps < 1:
        raise ConfigError(f"--steps {spec.steps}: must be >= 1")
    if not spec.seeds:
        raise ConfigError("--seeds: must be >= 1")
    if spec.budget_s < 0:
        raise ConfigError(f"--budget-s {spec.budget_s}: must be >= 0 (0: no limit)")
    from gankit.training.threads import available_cores
    from gankit.training.trainer import pick_device

    spec.losses = check_configs(spec, drop_unfit, log)  # also checks the device's name
    pick_device(spec.device)  # CUDA asked for but absent: one error here, not one per worker
    _check_settings(spec)
    cpus = available_cores()
    jobs = spec.jobs or cpus
    threads = max(1, cpus // jobs)
    actions: dict[str, str] = {}
    todo = []
    for loss in spec.losses:
        for seed in spec.seeds:
            name = spec.run_name(loss, seed)
            actions[name] = plan_run(spec.run_dir(loss, seed), spec.steps, spec.budget_s)
            if actions[name] != "done":
                cfg = run_config(spec, loss, seed)
                if jobs > 1 and not cfg.get("threads"):
                    # the workers' share of the cores: jobs starting together would each see
                    # idle cores and claim them all (one job: the trainer's own choice)
                    cfg["threads"] = threads
                todo.append((name, cfg, actions[name]))
    skipped = len(actions) - len(todo)
    log(
        f"arena: {len(actions)} runs, {skipped} already done, {len(todo)} to train "
        f"({jobs} at once" + (f", {threads} thread(s) each unless --set threads=N)" if jobs > 1 else ")")
    )
    if not todo:
        return actions
    ctx = multiprocessing.get_context("spawn")
    pool = futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)), mp_context=ctx, initializer=_init_worker, initargs=(threads,)
    )
    # SIGTERM (a scheduler, `kill`, `timeout`) stops the arena like Ctrl-C does; either way the
    # workers are told too, so none trains on as an orphan: each checkpoints at its next step.
    restore = None
    if threading.current_thread() is threading.main_thread():
        restore = signal.signal(signal.SIGTERM, _interrupt)
    try:
        pending = {pool.submit(train_one, cfg, action): name for name, cfg, action in todo}
        for i, fut in enumerate(futures.as_completed(pending), 1):
            name = pending[fut]
            try:
                st = fut.result()
            except futures.process.BrokenProcessPool:
                raise GankitError(
                    f"a worker process died (out of memory?) while training {name}; rerun the same "
                    "command to resume, perhaps with fewer --jobs"
                ) from None
            extra = f": {st['error']}" if st.get("error") else ""
            log(f"[{i}/{len(todo)}] {name} {st['status']} after {st['seconds']:.1f}s{extra}")
    except KeyboardInterrupt:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the run checkpoints at its next step and stops
        pool.shutdown(wait=True, cancel_futures=True)
        raise GankitError(f"arena interrupted; run the same command again to resume {spec.out}") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
    return actions


def _interrupt(signum, frame):
    raise KeyboardInterrupt
