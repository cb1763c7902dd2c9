"""One live training session: a Trainer stepped by a background thread, and its frames.

The thread calls ``Trainer.train_step`` (the loop's own step: phases, optimizers, health
checks) while the session is playing and at least one page watches; it holds the lock for
one step at a time, so the controls (one step, reset, new settings, save) interleave with
training. A frame (``gankit.lab.frame``) is built at most ``fps`` times a second and after
every control; pages read the newest one, so a second tab watches the same session.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import torch

from gankit.errors import ConfigError, GankitError
from gankit.lab import frame as F
from gankit.lab import settings as S

N_POINTS = 500  # real and generated points drawn
N_METRIC = 1000  # generated points the toy metrics judge
N_ARROWS = 60  # generated points with an arrow (divisible by PacGAN's packs 2 to 6)
SENT_POINTS = 300  # points per curve sent to the page


def finite(obj):
    """``obj`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


class History:
    """(step, values) rows, thinned by half whenever ``cap`` rows are kept."""

    def __init__(self, cap: int = 4000):
        self.cap, self.rows = cap, []

    def add(self, step: int, values: dict[str, float]) -> None:
        self.rows.append((step, values))
        if len(self.rows) > self.cap:
            self.rows = self.rows[::2]

    def curves(self, n: int = SENT_POINTS) -> dict[str, list]:
        """At most ``n`` rows: {"step": [...], key: [...]} (None where a key is missing)."""
        rows = self.rows[:: max(1, -(-len(self.rows) // n))]
        keys = sorted({k for _, v in rows for k in v})
        out = {"step": [s for s, _ in rows]}
        for k in keys:
            out[k] = F.rounded([v.get(k, float("nan")) for _, v in rows], 5)
        return out


class LabSession:
    def __init__(self, settings: dict[str, Any] | None = None, fps: float = 10.0, runs_dir: str = "runs"):
        self.lock = threading.Lock()
        self.wake = threading.Condition()
        self.fps, self.runs_dir = fps, Path(runs_dir)
        self.playing, self.speed = True, 0.0  # speed: steps per second; 0: as fast as it goes
        self.subscribers, self.waiting, self.closed = 0, 0, False
        self.session_id, self.frame_seq = 0, 0
        self.frame: dict[str, Any] = {}
        self.frame_json = "{}"
        self.thread: threading.Thread | None = None
        self.configure(settings if settings is not None else S.DEFAULTS)

    # --- building ---------------------------------------------------------------------------
    def configure(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Start a new session from ``settings``; on a bad value raise ConfigError and keep the
        running one."""
        from gankit.training.trainer import Trainer

        clean = S.clean(settings)
        cfg = S.to_config(clean)
        with self._locked():
            rng = torch.get_rng_state()
            try:
                trainer = Trainer(cfg)
            except GankitError:
                torch.set_rng_state(rng)
                raise
            except Exception as e:  # a combination the resolver let through but a network refuses
                torch.set_rng_state(rng)
                raise ConfigError(f"these settings cannot be built: {type(e).__name__}: {e}") from None
            self.trainer, self.settings = trainer, clean
            self.session_id += 1
            self.error = None
            self.losses, self.estimates, self.main_metric = History(), History(), History()
            self.exact_cache: dict = {}
            self.rate_mark = (time.perf_counter(), 0)
            self.rate = 0.0
            self._fixed_views()
            self._publish()
        self._notify()
        return self.frame

    def _fixed_views(self) -> None:
        """The real points and the drawing box, fixed for the session."""
        ds = self.trainer.dataset
        real = ds.reference(2000, seed=0).x  # (2000, dim), its own generator
        self.real = real[:N_POINTS]
        self.dim = real.shape[1]
        if self.dim == 2:
            self.lo, self.hi = F.square_box(real)
        else:
            Q = F.model_density(self.trainer)
            both = real if Q is None else torch.cat([real, Q.sample(2000, torch.Generator().manual_seed(1))])
            lo, hi = float(both.min()), float(both.max())
            pad = 0.15 * (hi - lo) + 1e-3
            self.lo, self.hi = [lo - pad], [hi + pad]

    # --- the training thread ----------------------------------------------------------------
    def start(self) -> LabSession:
        self.thread = threading.Thread(target=self._run, name="gankit-lab-training", daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        self.closed = True
        self._notify()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _should_train(self) -> bool:
        return self.playing and self.subscribers > 0 and self.error is None

    def _run(self) -> None:
        torch.set_num_threads(1)  # a toy model gains nothing from more; keep the machine responsive
        flush = torch.set_flush_denormal(True)  # as Trainer.fit does on the CPU
        last_frame = 0.0
        try:
            while not self.closed:
                with self.wake:
                    while not self.closed and not self._should_train():
                        self.wake.wait(0.5)
                if self.closed:
                    return
                t0 = time.perf_counter()
                with self.lock:
                    if self._should_train():  # a control may have paused meanwhile
                        self._step()
                        if time.perf_counter() - last_frame >= 1.0 / self.fps:
                            self._publish()
                            last_frame = time.perf_counter()
                if self.speed > 0:
                    time.sleep(max(0.0, 1.0 / self.speed - (time.perf_counter() - t0)))
                elif self.waiting:
                    time.sleep(0.001)  # let a waiting control take the lock
        finally:
            if flush:
                torch.set_flush_denormal(False)

    def _step(self) -> None:
        """One Trainer step (the caller holds the lock); an error pauses with its message."""
        t = self.trainer
        try:
            logs = t.train_step()
            if t.state.step % 25 == 0:
                t.check_health()
        except GankitError as e:
            self.error = f"{e}; change the settings or press reset"
        except Exception as e:
            self.error = f"training failed at step {t.state.step}: {type(e).__name__}: {e}"
        else:
            self.losses.add(t.state.step, {k: float(v) for k, v in logs.items()})
            return
        self.playing = False
        self._publish()

    def _notify(self) -> None:
        with self.wake:
            self.wake.notify_all()

    @contextlib.contextmanager
    def _locked(self):
        """The lock, taken with priority over the training thread's next step."""
        self.waiting += 1
        try:
            self.lock.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    # --- controls ---------------------------------------------------------------------------
    def subscribe(self) -> None:
        with self.wake:
            self.subscribers += 1
            self.wake.notify_all()

    def unsubscribe(self) -> None:
        with self.wake:
            self.subscribers = max(0, self.subscribers - 1)

    def control(self, action: str, speed: float | None = None, steps: int = 1) -> dict[str, Any]:
        """play | pause | step (``steps`` of them, also while paused) | reset | speed."""
        if speed is not None:
            try:
                speed = float(speed)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"speed={speed!r}: expected steps per second (0: as fast as possible)"
                ) from None
            if not speed >= 0 or speed == float("inf"):
                raise ConfigError(f"speed={speed!r}: expected steps per second >= 0 (0: as fast as possible)")
            self.speed = speed
        if action == "reset":
            return self.configure(self.settings)
        with self._locked():
            if action == "play":
                self.playing, self.error = True, None
            elif action == "pause":
                self.playing = False
            elif action == "step":
                if not 1 <= int(steps) <= 10_000:
                    raise ConfigError(f"steps={steps!r}: expected 1 to 10000")
                self.playing, self.error = False, None
                for _ in range(int(steps)):
                    self._step()
                    if self.error is not None:
                        break
            elif action != "speed":
                raise ConfigError(f"unknown action {action!r}; choose play, pause, step, reset or speed")
            self._publish()
        self._notify()
        return self.frame

    def save(self, out: str | None = None, more_steps: int = 2000) -> dict[str, Any]:
        """Write a run folder of the current state; ``gankit train --resume`` continues it, by
        default for ``more_steps`` steps (the saved config's budget; ``--steps`` changes it)."""
        with self._locked():
            t = self.trainer
            if t.state.step == 0:
                raise ConfigError("nothing trained yet: press play or step before saving the run")
            if out is None:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"lab-{t.cfg.data}-{t.cfg.loss}-{stamp}")
                out = str(self.runs_dir / name)
            t.cfg.steps = t.state.step + int(more_steps)
            path = t.save_run(out)
            return {
                "path": str(Path(out)),
                "checkpoint": str(path),
                "step": t.state.step,
                "resume": f"gankit train --resume {out}",
            }

    # --- frames -----------------------------------------------------------------------------
    def _publish(self) -> None:
        """Build the frame of the current state (the caller holds the lock)."""
        now = time.perf_counter()
        t0, s0 = self.rate_mark
        step = self.trainer.state.step
        if now - t0 >= 1.0:
            self.rate = (step - s0) / (now - t0)
            self.rate_mark = (now, step)
        try:
            with torch.random.fork_rng(devices=[]):
                f = self._frame()
        except Exception as e:  # the page must get a frame, with the reason, whatever happened
            self.error, self.playing = f"drawing failed at step {step}: {type(e).__name__}: {e}", False
            f = {**self.frame, "step": step, "error": self.error, "playing": False, "training": False}
        try:
            text = json.dumps(f, allow_nan=False)
        except ValueError:  # a non-finite number (a diverged run): shown as missing
            f = finite(f)
            text = json.dumps(f, allow_nan=False)
        self.frame, self.frame_json = f, text
        self.frame_seq += 1

    def _frame(self) -> dict[str, Any]:
        t = self.trainer
        cfg = t.cfg
        fake, _ = t.generate(N_METRIC)  # fixed noise, the evaluation's own
        try:
            metrics = {k: v for k, v in t.dataset.evaluate(fake).items() if isinstance(v, (int, float))}
        except Exception as e:  # a metric failing must not stop the page
            metrics = {"error": f"{type(e).__name__}: {e}"}
        main = t.dataset.main_metric()
        if main in metrics:
            self.main_metric.add(t.state.step, {main: metrics[main]})
        out: dict[str, Any] = {
            "session": self.session_id,
            "step": t.state.step,
            "images_seen": t.state.images_seen,
            "objective": cfg.loss,
            "data": cfg.data,
            "recipe": cfg.recipe,
            "settings": self.settings,
            "config": {
                k: getattr(cfg, k)
                for k in ("lr_g", "lr_d", "n_critic", "penalties", "batch_size", "optimizer")
            },
            "playing": self.playing,
            "training": self._should_train(),
            "speed": self.speed,
            "watchers": self.subscribers,
            "steps_per_s": round(self.rate, 1),
            "error": self.error,
            "losses": self.losses.curves(),
            "metrics": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()},
            "main_metric": main,
            "metric_curve": self.main_metric.curves(),
            "lo": self.lo,
            "hi": self.hi,
            "dim": self.dim,
        }
        if self.dim == 2:
            out["real"] = F.rounded(self.real, 3)
            out["fake"] = F.rounded(fake[:N_POINTS], 3)
            out["heat"] = F.heat_map(t, self.lo, self.hi)
            out["arrows"] = self._arrows(fake)
        else:
            P = t.dataset.dist
            th = F.theory(t, P, self.lo[0], self.hi[0], self.real, fake, self.exact_cache)
            if th["estimate"] is not None:
                self.estimates.add(t.state.step, {"estimate": th["estimate"]})
            th["estimates"] = self.estimates.curves()
            out["theory"] = th
        return out

    def _arrows(self, fake: torch.Tensor) -> dict[str, list] | None:
        """Points and their push (-grad of G's loss), or None where G is not trained."""
        t = self.trainer
        if "G" not in t.recipe.players:
            return None
        pts = fake[:N_ARROWS].to(t.device)
        try:
            push = F.generator_push(t.recipe, self.real[:N_ARROWS].to(t.device), pts)
        except Exception:  # a remedy whose G loss needs more than points and D (none today)
            return None
        return {"points": F.rounded(pts.cpu(), 3), "push": F.rounded(push.cpu(), 5)}
