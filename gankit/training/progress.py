"""Progress display: a tqdm bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, start: int, mode: str = "auto", enabled: bool = True, desc: str = "train"):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode if enabled else "none"
        self.total, self.step = total, start
        self.t0 = time.perf_counter()
        self.start = start
        self.last_line = 0.0
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=desc, dynamic_ncols=True, unit="step")

    def update(self, step: int, info: dict[str, float], images_per_s: float | None = None) -> None:
        n = step - self.step
        self.step = step
        if self.mode == "bar":
            self.bar.update(n)
            if info:
                post = {k: f"{v:.4g}" for k, v in info.items()}
                if images_per_s:
                    post["img/s"] = f"{images_per_s:.0f}"
                self.bar.set_postfix(post, refresh=False)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self.last_line >= 10.0 or step == self.total:
                self.last_line = now
                done = step - self.start
                rate = done / max(now - self.t0, 1e-9)
                eta = (self.total - step) / rate if rate > 0 else float("inf")
                parts = " ".join(f"{k}={v:.4g}" for k, v in info.items())
                ips = f" {images_per_s:.0f} img/s" if images_per_s else ""
                print(f"step {step}/{self.total} {parts}{ips} eta {eta:.0f}s", file=sys.stderr, flush=True)

    def set_total(self, total: int) -> None:
        """The run's step count changed (fitted to a wall budget): the bar and ETA follow it."""
        self.total = total
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        elif self.mode != "none":
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
