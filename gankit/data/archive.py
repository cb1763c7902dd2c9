"""Reading downloaded archives safely: tar members that stay inside their folder, and pickles
that can only rebuild plain data (CIFAR's python batches are pickles)."""

from __future__ import annotations

import io
import pickle
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from gankit.errors import DataError


def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse links, devices and names that would land outside the extraction folder."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
        raise DataError(
            f"{archive}: member {member.name!r} escapes the extraction folder; refusing the archive"
        )
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: member {member.name!r} is a link or special file; refusing the archive")


def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable tar archive ({e}); delete it and download again") from None


def checked_members(tar: tarfile.TarFile, path: Path) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, each checked by :func:`check_member`."""
    try:
        members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path}: truncated or corrupt archive ({e}); delete it and download again") from None
    for m in members:
        check_member(m, path)
    return members


def safe_extract(path: Path, dest: Path) -> list[Path]:
    """Extract every regular file of the tar archive at ``path`` under ``dest``.

    All members are checked first; one that escapes ``dest`` or is a link refuses the whole
    archive, so nothing is written from a malicious file.
    """
    dest = Path(dest)
    if zipfile.is_zipfile(path):
        return safe_extract_zip(path, dest)
    with open_tar(path) as tar:
        members = checked_members(tar, path)
        try:
            return write_members(
                dest, [(m.name, m.isdir(), lambda m=m: tar.extractfile(m).read()) for m in members], path
            )
        except (tarfile.TarError, EOFError) as e:
            raise DataError(f"{path}: truncated or corrupt archive ({e})") from None


def write_members(dest: Path, entries, archive: Path) -> list[Path]:
    """Write checked archive ``entries`` (name, is_dir, read() -> bytes) under ``dest``; a name
    resolving outside ``dest`` refuses the archive. Returns the files written."""
    root = dest.resolve()
    out = []
    for name, is_dir, read in entries:
        target = (dest / name).resolve()
        if root not in target.parents and target != root:
            raise DataError(f"{archive}: member {name!r} escapes {dest}; refusing the archive")
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read())
        out.append(target)
    return out


def check_zip_member(info: zipfile.ZipInfo, archive: Path) -> None:
    """Refuse zip members with absolute, drive-letter or ``..`` names, and symlinks."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"{archive}: member {name!r} escapes the extraction folder; refusing the archive")
    mode = info.external_attr >> 16  # unix mode when the zip was made on unix, else 0
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{archive}: member {name!r} is a link or special file; refusing the archive")


def safe_extract_zip(path: Path, dest: Path) -> list[Path]:
    """:func:`safe_extract` for zip archives: every member checked before anything is written."""
    path, dest = Path(path), Path(dest)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                check_zip_member(info, path)
            return write_members(
                dest, [(i.filename, i.is_dir(), lambda i=i: zf.read(i)) for i in infos], path
            )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise DataError(f"{path}: truncated or corrupt zip archive ({e})") from None


def read_members(path: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of the named regular-file members, after checking every member's safety."""
    with open_tar(path) as tar:
        members = checked_members(tar, path)
        by_name = {m.name: m for m in members}
        absent = [n for n in names if n not in by_name]
        if absent:
            raise DataError(f"{path}: archive lacks {', '.join(absent)}; is it the right file?")
        out = {}
        for n in names:
            try:
                out[n] = tar.extractfile(by_name[n]).read()
            except (tarfile.TarError, EOFError, OSError, AttributeError) as e:
                raise DataError(f"{path}: member {n!r} is truncated or corrupt ({e})") from None
        return out


class _PlainUnpickler(pickle.Unpickler):
    """Allows only numpy arrays and builtin containers: a pickle cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("builtins", "bytearray"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_plain_pickle(data: bytes, where: str):
    """Unpickle Python 2 or 3 data holding only arrays, dicts, lists, bytes and numbers."""
    try:
        return _PlainUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:
        raise DataError(f"{where}: not a data pickle ({type(e).__name__}: {e})") from None
