"""Files from elsewhere cannot run code: a real malicious pickle is refused by every loader,
exported generators are safetensors, and archives cannot write outside their folder."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
from test_reliability import fast, tiny  # noqa: F401  (fast: fixture)

from gankit.cli import main
from gankit.errors import CheckpointError, DataError
from gankit.training import checkpoint as ckpt
from gankit.training.trainer import Trainer


class Payload:
    """Unpickling this calls ``open(marker, "w")``: code runs and the marker file appears."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_checkpoint(path: Path, marker: Path) -> None:
    """A gankit-looking checkpoint with the payload inside, plus a manifest whose checksum
    matches, so only the safe loader stands between the file and the payload."""
    torch.save({"format": ckpt.FORMAT, "version": ckpt.VERSION, "config": "{}", "x": Payload(marker)}, path)
    data = path.read_bytes()
    manifest = {
        "format": ckpt.FORMAT,
        "step": 5,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
    }
    path.with_suffix(".json").write_text(json.dumps(manifest))


def test_the_payload_is_real(tmp_path):
    """Control: an unsafe load of the same file does run the code (so the tests below can fail)."""
    marker = tmp_path / "pwned"
    malicious_checkpoint(tmp_path / "step-00000005.pt", marker)
    torch.load(tmp_path / "step-00000005.pt", weights_only=False)
    assert marker.exists()


def test_load_file_refuses_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "step-00000005.pt"
    malicious_checkpoint(path, marker)
    with pytest.raises(CheckpointError, match="refusing to load .*not a plain-data checkpoint"):
        ckpt.load_file(path)
    assert not marker.exists()


def test_run_folder_with_malicious_checkpoint(tmp_path, capsys):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    malicious_checkpoint(run / "checkpoints" / "step-00000005.pt", marker)
    with pytest.raises(CheckpointError, match="refusing to load"):
        Trainer.from_run(run)
    for argv in (
        ["eval", str(run)],
        ["train", "--resume", str(run)],
        ["sample", str(run), "-o", str(tmp_path / "s.npy")],
        ["export", str(run), "-o", str(tmp_path / "G.safetensors")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("gankit: error: refusing to load") and err.count("\n") == 1, err
    assert not marker.exists()
    assert not (tmp_path / "G.safetensors").exists()


def test_malicious_newest_checkpoint_falls_back_to_good_one(tmp_path, fast):  # noqa: F811
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    Trainer(tiny(run, steps=4)).fit(progress=False)
    malicious_checkpoint(run / "checkpoints" / "step-00000009.pt", marker)
    with pytest.warns(
        UserWarning, match="refusing to load.*using the previous good checkpoint step-00000004.pt"
    ):
        t = Trainer.from_run(run)
    assert t.state.step == 4 and not marker.exists()


# --- exported generators ------------------------------------------------------------------------
def test_export_roundtrip_ema_generator(tmp_path, fast, capsys):  # noqa: F811
    from safetensors import safe_open

    from gankit.export import export_generator, load_generator

    run = tmp_path / "run"
    t = Trainer(tiny(run, steps=4, ema=0.9))
    t.fit(progress=False)
    path = export_generator(t, tmp_path / "G.safetensors")
    raw = export_generator(t, tmp_path / "G_raw.safetensors", ema=False)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "gankit-generator" and meta["ema"] == "true" and meta["step"] == "4"
    assert json.loads(meta["config"])["ema"] == 0.9

    gen = load_generator(path)
    z = torch.randn(50, t.recipe.G.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = t.sampling_generator()(z)
        expected_raw = t.recipe.G(z)
    assert torch.equal(gen.sample(50, seed=3), expected)
    assert torch.equal(load_generator(raw).sample(50, seed=3), expected_raw)
    assert not torch.equal(expected, expected_raw)  # the EMA copy really is another network

    # The CLI: export from the run folder, sample from the file alone; same as sampling the run.
    assert main(["export", str(run), "-o", str(tmp_path / "cli.safetensors")]) == 0
    assert (
        main(
            [
                "sample",
                "--weights",
                str(tmp_path / "cli.safetensors"),
                "-n",
                "20",
                "-o",
                str(tmp_path / "a.npy"),
            ]
        )
        == 0
    )
    assert main(["sample", str(run), "-n", "20", "-o", str(tmp_path / "b.npy")]) == 0
    import numpy as np

    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (20, 2) and np.array_equal(a, b)
    capsys.readouterr()
    assert main(["sample", str(run), "--weights", str(path), "-o", str(tmp_path / "c.npy")]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_foreign_or_malicious_weights_are_refused(tmp_path):
    from safetensors.torch import save_file

    from gankit.export import load_generator

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a gankit generator export"):
        load_generator(tmp_path / "other.safetensors")
    marker = tmp_path / "pwned"
    torch.save({"x": Payload(marker)}, tmp_path / "evil.safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_generator(tmp_path / "evil.safetensors")
    assert not marker.exists()


# --- archives -----------------------------------------------------------------------------------
def _tar(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (name, kind "file" | "symlink" | "hardlink", content or link target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = arg.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = arg
                tar.addfile(info)
    return path


def _zip(path: Path, members: list[tuple[str, str, str]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, arg in members:
            info = zipfile.ZipInfo(name)
            if kind == "symlink":
                info.external_attr = 0o120777 << 16
            else:
                info.external_attr = 0o100644 << 16
            zf.writestr(info, arg)
    return path


BAD_MEMBERS = [
    ("../escape.txt", "file", "x"),
    ("ok/../../escape.txt", "file", "x"),
    ("/tmp/abs-escape.txt", "file", "x"),
    ("link", "symlink", "/etc/passwd"),
    ("hard", "hardlink", "/etc/passwd"),
]


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("bad", BAD_MEMBERS, ids=[m[0] + "-" + m[1] for m in BAD_MEMBERS])
def test_safe_extract_refuses_escaping_members(tmp_path, fmt, bad):
    from gankit.data.archive import safe_extract

    if fmt == "zip" and bad[1] == "hardlink":
        pytest.skip("zip has no hard links")
    make = _tar if fmt == "tar" else _zip
    archive = make(tmp_path / f"a.{fmt}", [("data/good.txt", "file", "fine"), bad])
    dest = tmp_path / "out" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(DataError, match="escapes|link or special file"):
        safe_extract(archive, dest)
    # Nothing at all was written: the whole archive is refused before extraction.
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "out" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_safe_extract_extracts_plain_archives(tmp_path, fmt):
    from gankit.data.archive import safe_extract

    make = _tar if fmt == "tar" else _zip
    archive = make(
        tmp_path / f"a.{fmt}", [("data/x.txt", "file", "hello"), ("data/sub/y.txt", "file", "world")]
    )
    out = safe_extract(archive, tmp_path / "dest")
    assert sorted(p.relative_to(tmp_path / "dest").as_posix() for p in out) == [
        "data/sub/y.txt",
        "data/x.txt",
    ]
    assert (tmp_path / "dest" / "data" / "x.txt").read_text() == "hello"


def test_safe_extract_truncated_archives(tmp_path):
    from gankit.data.archive import safe_extract

    for fmt, make in (("tar", _tar), ("zip", _zip)):
        archive = make(tmp_path / f"a.{fmt}", [("x.bin", "file", "z" * 5000)])
        data = archive.read_bytes()
        archive.write_bytes(data[: len(data) // 2])
        with pytest.raises(DataError):
            safe_extract(archive, tmp_path / f"dest-{fmt}")
