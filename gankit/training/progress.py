"""Progress display on stderr: a tqdm bar on a terminal, plain periodic lines otherwise.

What it shows is fresh: the values (losses, the main metric) come from a callable read only
when the display refreshes (at most once a second for the bar, every 10 s for lines), and the
main metric carries the step of the evaluation it comes from (``fid_lenet@500``). Rate and ETA
come from the median time of the recent steps after a warm-up, so the first step (compilation,
cuDNN autotuning, the step-0 evaluation) and the steps holding an evaluation do not make the
first ETA wild; the ETA counts training steps only, and appears after a few steady steps.

``$GANKIT_PROGRESS`` (auto, bar, lines, none) chooses what ``mode="auto"`` means.
"""

from __future__ import annotations

import collections
import os
import statistics
import sys
import time
from collections.abc import Callable

MODES = ("auto", "bar", "lines", "none")
WARMUP_STEPS = 3  # steps after the start whose time says nothing of the steady rate
MIN_SAMPLES = 5  # steady step times needed before a rate and an ETA are shown
WINDOW = 50  # the median is over this many recent step times
BAR_REFRESH_S = 1.0
LINE_EVERY_S = 10.0


def resolve_mode(mode: str = "auto") -> str:
    """``auto`` -> ``$GANKIT_PROGRESS`` when set (and not auto), else bar on a terminal, lines."""
    if mode == "auto":
        env = os.environ.get("GANKIT_PROGRESS", "").strip().lower()
        if env in MODES and env != "auto":
            return env
        return "bar" if sys.stderr.isatty() else "lines"
    return mode


def format_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class StepClock:
    """Steady-state time per step: the median of recent step times after a warm-up."""

    def __init__(self, start: int):
        self.start = start
        self.last: tuple[int, float] | None = None
        self.times: collections.deque[float] = collections.deque(maxlen=WINDOW)

    def tick(self, step: int, now: float) -> None:
        if self.last is not None and step > self.last[0] and self.last[0] >= self.start + WARMUP_STEPS:
            per = (now - self.last[1]) / (step - self.last[0])
            self.times.extend([per] * min(step - self.last[0], WINDOW))
        self.last = (step, now)

    def per_step(self) -> float | None:
        """Seconds per step, or None until enough steady steps were seen."""
        return statistics.median(self.times) if len(self.times) >= MIN_SAMPLES else None


class Progress:
    """``update(step, values)`` after every step; ``values`` is a dict or a callable returning
    one, called only when the display refreshes."""

    def __init__(
        self,
        total: int,
        start: int,
        mode: str = "auto",
        enabled: bool = True,
        desc: str = "train",
        images_per_step: int = 0,
        unit: str = "step",
    ):
        self.mode = resolve_mode(mode) if enabled else "none"
        self.total, self.step, self.start = total, start, start
        self.desc, self.unit = desc, unit
        self.images_per_step = images_per_step
        self.clock = StepClock(start)
        self.clock.tick(start, time.perf_counter())
        self.last_refresh = -float("inf")
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=start,
                desc=desc,
                dynamic_ncols=True,
                unit=unit,
                file=sys.stderr,
                # tqdm's own rate and remaining time include the warm-up; ours are in the postfix
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
            )

    def rate_parts(self, step: int) -> dict[str, str]:
        """``img/s`` (or ``s/step``) and ``eta`` from the steady step time, when known."""
        per = self.clock.per_step()
        if per is None:
            return {}
        out = {}
        if self.images_per_step and per > 0:
            out["img/s"] = f"{self.images_per_step / per:.0f}"
        elif per > 0:
            out[f"{self.unit}/s"] = f"{1 / per:.3g}"
        out["eta"] = format_seconds(per * max(self.total - step, 0))
        return out

    def update(self, step: int, values: dict | Callable[[], dict] | None = None) -> None:
        now = time.perf_counter()
        n = step - self.step
        self.step = step
        self.clock.tick(step, now)
        if self.mode == "none":
            return
        every = BAR_REFRESH_S if self.mode == "bar" else LINE_EVERY_S
        if now - self.last_refresh < every and step != self.total:
            if self.bar is not None:
                self.bar.update(n)
            return
        self.last_refresh = now
        vals = values() if callable(values) else (values or {})
        parts = {k: f"{v:.4g}" if isinstance(v, float) else str(v) for k, v in vals.items()}
        parts.update(self.rate_parts(step))
        if self.bar is not None:
            self.bar.set_postfix(parts, refresh=False)
            self.bar.update(n)
        else:
            text = " ".join(f"{k}={v}" if k != "eta" else f"eta {v}" for k, v in parts.items())
            line = f"{self.desc} {self.unit} {step}/{self.total} {text}"
            print(line.rstrip(), file=sys.stderr, flush=True)

    def set_total(self, total: int) -> None:
        """The run's step count changed (fitted to a wall budget): the bar and ETA follow it."""
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        elif self.mode != "none":
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StageBar:
    """Progress over a few long items (the divergences of ``gankit modes``), each running
    through stages reported as text: ``stage(index, name, text)`` as the work goes on."""

    def __init__(self, total: int, desc: str, mode: str = "auto", unit: str = "item"):
        self.mode = resolve_mode(mode)
        self.total, self.desc = total, desc
        self.done = 0
        self.shown: tuple[int, float] = (-1, -float("inf"))  # (item, time) of the last refresh
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {n_fmt}/{total_fmt} {unit}s [{elapsed}<{remaining}{postfix}]",
            )

    def stage(self, index: int, name: str, text: str) -> None:
        if self.mode == "none":
            return
        if index > self.done and self.bar is not None:
            self.bar.update(index - self.done)
        self.done = max(self.done, index)
        now = time.perf_counter()
        every = BAR_REFRESH_S / 2 if self.bar is not None else LINE_EVERY_S
        if index == self.shown[0] and now - self.shown[1] < every:
            return
        self.shown = (index, now)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{name}: {text}")
        else:
            print(f"{self.desc} {index + 1}/{self.total} {name}: {text}", file=sys.stderr, flush=True)

    def close(self, finished: bool = False) -> None:
        if self.bar is not None:
            if finished and self.done < self.total:
                self.bar.update(self.total - self.done)
            self.bar.close()

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(finished=exc_type is None)
