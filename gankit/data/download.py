"""Where dataset files live, and fetching them with checksum verification.

The data directory is, in order: the config's ``data_dir`` (``--data-dir``), the
``GANKIT_DATA`` environment variable, else the user cache folder (``~/.cache/gankit``, or
``$XDG_CACHE_HOME/gankit``). Each dataset keeps its files in a subfolder named after it
(``mnist/``, ``fashion-mnist/``, ``cifar10/``). Missing files are downloaded from the
dataset's mirrors and checked against the published checksums; without network the error
says which files to put where, with their checksums.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from gankit.errors import DataError


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, size in bytes, checksums and mirror URLs."""

    name: str
    size: int
    sha256: str = ""
    md5: str = ""
    urls: tuple[str, ...] = ()

    def checksum_text(self) -> str:
        parts = [f"sha256 {self.sha256}" if self.sha256 else "", f"md5 {self.md5}" if self.md5 else ""]
        return ", ".join(p for p in parts if p)


def cache_dir() -> Path:
    """The user cache folder: ``$GANKIT_CACHE``, ``$XDG_CACHE_HOME/gankit`` or ``~/.cache/gankit``."""
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "gankit"


def data_root(data_dir: str | os.PathLike | None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$GANKIT_DATA``, else the cache folder."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("GANKIT_DATA"):
        return Path(os.environ["GANKIT_DATA"]).expanduser()
    return cache_dir()


def file_digests(path: Path, chunk: int = 1 << 20) -> tuple[str, str]:
    """(sha256, md5) hex digests of the file at ``path``."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def verify(path: Path, spec: RemoteFile) -> None:
    """Raise DataError when ``path`` does not match ``spec``'s size and checksums."""
    size = path.stat().st_size
    if spec.size and size != spec.size:
        raise DataError(f"{path}: {size} bytes, expected {spec.size}; delete it and try again")
    sha, md5 = file_digests(path)
    if (spec.sha256 and sha != spec.sha256) or (spec.md5 and md5 != spec.md5):
        raise DataError(
            f"{path}: checksum mismatch (got sha256 {sha}, expected {spec.checksum_text()}); "
            "delete it and try again"
        )


def open_url(url: str, timeout: float = 30.0):
    """The network: a response with ``read(n)`` and ``headers`` (tests put a fake here)."""
    req = urllib.request.Request(url, headers={"User-Agent": "gankit"})
    return urllib.request.urlopen(req, timeout=timeout)


def _download_one(url: str, dest: Path, spec: RemoteFile, timeout: float = 30.0) -> None:
    """Stream ``url`` into ``dest`` (via a temporary file) with a progress bar, then verify."""
    from tqdm.auto import tqdm

    from gankit.training.progress import resolve_mode

    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with open_url(url, timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or spec.size or 0) or None
            quiet = resolve_mode("auto") == "none"  # GANKIT_PROGRESS=none
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=spec.name, leave=False, disable=quiet
            ) as bar:
                while block := resp.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
        verify(tmp, spec)
        tmp.replace(dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def ensure_files(
    dataset: str, folder: Path, files: list[RemoteFile], download: bool = True
) -> dict[str, Path]:
    """Paths of ``files`` in ``folder``, downloading the missing ones.

    A file present under its name, or under its name without ``.gz`` (already decompressed),
    is used as it is. A downloaded file is verified before it is moved into place.
    """
    found: dict[str, Path] = {}
    missing: list[RemoteFile] = []
    for spec in files:
        for candidate in (folder / spec.name, folder / spec.name.removesuffix(".gz")):
            if candidate.is_file():
                found[spec.name] = candidate
                break
        else:
            missing.append(spec)
    if not missing:
        return found
    problems: list[str] = []
    if download:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            problems.append(f"cannot create {folder}: {e.strerror}")
        else:
            for spec in list(missing):
                for url in spec.urls:
                    try:
                        _download_one(url, folder / spec.name, spec)
                    except DataError as e:
                        problems.append(f"{url}: {e}")
                        continue
                    except (urllib.error.URLError, OSError, TimeoutError) as e:
                        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
                        problems.append(f"{url}: {reason}")
                        continue
                    found[spec.name] = folder / spec.name
                    missing.remove(spec)
                    break
    if missing:
        listing = "; ".join(f"{s.name} ({s.size} bytes, {s.checksum_text()})" for s in missing)
        why = f" (download failed: {problems[-1]})" if problems else ""
        raise DataError(
            f"{dataset}: missing files in {folder}{why}. Put these files there, or point "
            f"--data-dir / GANKIT_DATA at a folder holding {dataset}/: {listing}"
        )
    return found
