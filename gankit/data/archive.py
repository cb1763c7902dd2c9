"""Reading downloaded archives safely: tar members that stay inside their folder, and pickles
that can only rebuild plain data (CIFAR's python batches are pickles)."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path, PurePosixPath

from gankit.errors import DataError


def check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse links, devices and names that would land outside the extraction folder."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
        raise DataError(f"{archive}: member {member.name!r} escapes the extraction folder; refusing the archive")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: member {member.name!r} is a link or special file; refusing the archive")


def open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable tar archive ({e}); delete it and download again") from None


def safe_extract(path: Path, dest: Path) -> list[Path]:
    """Extract every regular file of the tar archive at ``path`` under ``dest``.

    All members are checked first; one that escapes ``dest`` or is a link refuses the whole
    archive, so nothing is written from a malicious file.
    """
    dest = Path(dest)
    with open_tar(path) as tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"{path}: truncated or corrupt archive ({e})") from None
        for m in members:
            check_member(m, path)
        out = []
        root = dest.resolve()
        for m in members:
            target = (dest / m.name).resolve()
            if root not in target.parents and target != root:
                raise DataError(f"{path}: member {m.name!r} escapes {dest}; refusing the archive")
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            try:
                target.write_bytes(src.read())
            except (tarfile.TarError, EOFError, OSError) as e:
                raise DataError(f"{path}: member {m.name!r} is truncated or corrupt ({e})") from None
            out.append(target)
    return out


def read_members(path: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of the named regular-file members, after checking every member's safety."""
    with open_tar(path) as tar:
        try:
            members = tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"{path}: truncated or corrupt archive ({e}); delete it and download again") from None
        for m in members:
            check_member(m, path)
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
