"""The run folder: resolved config, metrics log, pictures, checkpoints, TensorBoard events."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from gankit.errors import GankitError


def default_out(data: str, loss: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in data.split("/")[-1] or data)
    return os.path.join("runs", f"{safe}-{loss}-{time.strftime('%Y%m%d-%H%M%S')}")


def check_writable(folder: Path, what: str = "run folder", flag: str = "--out") -> None:
    """Create ``folder`` (and parents) and prove it writable, or raise a clear error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise GankitError(
            f"cannot write to {what} {folder}: {os_reason(e, folder)}; choose another {flag}"
        ) from None


def os_reason(error: OSError, path: Path) -> str:
    """Why writing ``path`` failed, in words: a file standing where a folder must be is named."""
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        for parent in [*reversed(Path(path).parents), Path(path)]:
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    return error.strerror or str(error)


def jsonable(value: Any) -> Any:
    """Numbers JSON can hold: NaN and inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Append-only ``metrics.jsonl``: one object per evaluation, flushed at once."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        """Drop rows newer than ``step`` (they belong to steps a resume will redo)."""
        if not self.path.exists():
            return
        rows = [line for line in self.path.read_text().splitlines() if line.strip()]
        keep = []
        for line in rows:
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash
        from gankit.training.checkpoint import atomic_write_bytes  # a kill here must not lose the log

        atomic_write_bytes(self.path, "".join(line + "\n" for line in keep).encode())

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({k: jsonable(v) for k, v in row.items()}) + "\n")
            f.flush()

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out


class TensorBoard:
    """Scalars and images to ``RUN/tensorboard`` when tensorboard is installed; else nothing."""

    def __init__(self, folder: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed
            self.writer = None
            return
        self.writer = SummaryWriter(str(folder))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def image(self, tag: str, png_path: Path, step: int) -> None:
        if self.writer is None:
            return
        import numpy as np
        from PIL import Image

        img = np.asarray(Image.open(png_path).convert("RGB"))
        self.writer.add_image(tag, img, step, dataformats="HWC")

    def close(self):
        if self.writer is not None:
            self.writer.close()
