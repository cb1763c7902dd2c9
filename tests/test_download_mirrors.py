"""MNIST comes from maintained mirrors, tried in order and checked against the published
checksums; a fake network stands in for the real one (tests never download)."""

import io
import urllib.error

import pytest

from gankit.data import download
from gankit.data.images import idx_files
from gankit.errors import DataError

OSSCI = "https://ossci-datasets.s3.amazonaws.com/mnist/"
CVDF = "https://storage.googleapis.com/cvdf-datasets/mnist/"


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def fake_network(monkeypatch, answers: dict[str, bytes | Exception]) -> list[str]:
    """``download.open_url`` answering from ``answers`` by URL prefix; returns the URLs asked."""
    asked = []

    def open_url(url, timeout=30.0):
        asked.append(url)
        for prefix, answer in answers.items():
            if url.startswith(prefix):
                if isinstance(answer, Exception):
                    raise answer
                return FakeResponse(answer)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download, "open_url", open_url)
    return asked


def test_mnist_mirrors_are_the_maintained_ones_in_order():
    for split in ("train", "test"):
        for spec in idx_files("mnist", split):
            assert spec.urls == (OSSCI + spec.name, CVDF + spec.name)
            assert not any("lecun.com" in u for u in spec.urls)
            assert len(spec.sha256) == 64 and len(spec.md5) == 32


def test_a_refusing_mirror_falls_through_to_the_next(monkeypatch, tmp_path, data_dir):
    spec = idx_files("mnist", "test")[1]  # t10k-labels-idx1-ubyte.gz, 4,542 bytes
    real = (data_dir / "mnist" / spec.name).read_bytes()
    forbidden = urllib.error.HTTPError(OSSCI, 403, "Forbidden", {}, None)
    asked = fake_network(monkeypatch, {OSSCI: forbidden, CVDF: real})
    found = download.ensure_files("mnist", tmp_path / "mnist", [spec])
    assert asked == [OSSCI + spec.name, CVDF + spec.name]
    assert found[spec.name].read_bytes() == real


def test_bytes_that_fail_the_checksum_are_never_kept(monkeypatch, tmp_path):
    spec = idx_files("mnist", "test")[1]
    wrong = b"\0" * spec.size  # the right size, the wrong content
    asked = fake_network(monkeypatch, {OSSCI: wrong, CVDF: wrong})
    with pytest.raises(DataError, match="checksum mismatch") as e:
        download.ensure_files("mnist", tmp_path / "mnist", [spec])
    assert asked == [OSSCI + spec.name, CVDF + spec.name]
    assert spec.sha256 in str(e.value)  # the error says which file to put where
    assert list((tmp_path / "mnist").iterdir()) == []  # no partial or wrong file left behind
