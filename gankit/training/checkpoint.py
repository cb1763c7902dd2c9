"""Atomic, checksummed checkpoints that load without executing code.

Layout in ``RUN/checkpoints/``: ``step-00001000.pt`` (``torch.save`` of plain containers and
tensors) beside ``step-00001000.json`` (its SHA-256 and step). A checkpoint counts only
when its manifest exists and the checksum matches, so a crash while writing leaves the
previous one as the latest. Loading uses ``torch.load(weights_only=True)``: a pickle that
would run code is refused before any of it runs.

A checkpoint found corrupt (its checksum, size or content wrong) is set aside: renamed to
``step-N.pt.corrupt`` and ``step-N.json.corrupt``, kept for inspection, and no longer listed, so
it never counts among the ``keep`` newest. Rotation never deletes the checkpoint it has just
written, which is the newest good one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from gankit.errors import CheckpointError

FORMAT = "gankit-checkpoint"
VERSION = 1


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, rename, fsync dir."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(folder: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``step`` atomically; then drop all but the newest ``keep`` valid ones."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buf)
    data = buf.getvalue()
    name = checkpoint_name(step)
    path = folder / f"{name}.pt"
    atomic_write_bytes(path, data)
    manifest = {
        "format": FORMAT,
        "step": step,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    atomic_write_bytes(folder / f"{name}.json", json.dumps(manifest).encode())
    rotate(folder, path, keep)
    return path


def rotate(folder: Path, newest: Path, keep: int) -> None:
    """Keep ``newest`` (just written and whole) and the ``keep - 1`` newest whole checkpoints of
    earlier steps; delete the rest of the earlier ones. A checkpoint whose file no longer has its
    manifest's size is set aside, wherever it is, and not counted; whole ones of later steps
    (left by a run resumed from before them) are left alone. (Only sizes are compared here;
    loading verifies the checksum.)"""
    kept = 1
    for path in reversed(list_checkpoints(folder)):
        if path == newest:
            continue
        if not _whole(path):
            set_aside(path)
        elif _step(path) < _step(newest):
            if kept < keep:
                kept += 1
            else:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)


def _step(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _whole(path: Path) -> bool:
    try:
        return path.stat().st_size == json.loads(path.with_suffix(".json").read_text())["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def set_aside(path: Path) -> Path | None:
    """Rename a corrupt checkpoint and its manifest to ``*.corrupt`` (no longer listed); returns
    the new name of the checkpoint, or None where the folder cannot be changed."""
    path = Path(path)
    try:
        manifest = path.with_suffix(".json")
        if manifest.exists():
            os.replace(manifest, manifest.with_name(manifest.name + ".corrupt"))
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
    except OSError:
        return None
    _fsync_dir(path.parent)
    return aside


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files that have a manifest, oldest first (checksums not yet verified)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*.pt") if p.with_suffix(".json").exists())


class CorruptCheckpointError(CheckpointError):
    """The file is there and readable, but it is not the checkpoint its manifest describes."""


class UnsafeCheckpointError(CheckpointError):
    """The file holds code to run on loading (a pickle gankit does not write): refused every
    time it is met and left where it is, so the refusal is seen, not a missing checkpoint."""


def verify(path: Path) -> None:
    """Raise CheckpointError unless ``path`` matches its manifest's SHA-256 (CorruptCheckpointError
    when the file or its manifest is readable but wrong)."""
    path = Path(path)
    manifest_path = path.with_suffix(".json")
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["sha256"]
    except OSError:
        raise CheckpointError(
            f"checkpoint {path}: manifest {manifest_path.name} is missing or unreadable"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise CorruptCheckpointError(f"checkpoint {path}: manifest {manifest_path.name} is corrupt") from None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path}: cannot read ({e.strerror})") from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise CorruptCheckpointError(
            f"checkpoint {path} is corrupt or truncated (checksum mismatch, {len(data)} bytes)"
        )


def load_file(path: Path, map_location="cpu") -> dict[str, Any]:
    """Load a checkpoint file safely (weights_only); refuse anything that is not gankit's."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsafe content"
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it is not a plain-data checkpoint ({first[:200]})"
        ) from None
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"checkpoint {path}: cannot read ({e.strerror})") from None
    except Exception as e:  # zip errors, truncation, foreign formats
        raise CorruptCheckpointError(
            f"cannot read checkpoint {path}: {type(e).__name__}: {str(e)[:200]}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CorruptCheckpointError(f"{path} is not a gankit checkpoint")
    return state


def load_latest(run_dir: Path, map_location="cpu") -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint of ``run_dir`` that verifies; a corrupt newer one is reported."""
    folder = Path(run_dir) / "checkpoints"
    candidates = list_checkpoints(folder)
    if not candidates:
        raise CheckpointError(
            f"no checkpoint in {run_dir}; is it a gankit run folder? (expected {folder}/step-*.pt)"
        )
    problems = []
    for path in reversed(candidates):
        try:
            verify(path)
            state = load_file(path, map_location)
        except CheckpointError as e:
            problem = str(e)
            if isinstance(e, CorruptCheckpointError):  # an unreadable file (I/O) stays in place
                aside = set_aside(path)
                if aside is not None:
                    problem += f"; set aside as {aside.name}"
            problems.append(problem)
            continue
        if problems:
            import warnings

            warnings.warn(f"{problems[0]}; using the previous good checkpoint {path.name}", stacklevel=2)
        return path, state
    raise CheckpointError(problems[0] + "; no earlier good checkpoint exists")
