"""Fuzzing the parsers of user input with hypothesis: whatever the input, they either succeed
or raise the documented error type (ConfigError for configs and SPEC strings, DataError for
data files), never anything else."""

from __future__ import annotations

import gzip
import importlib.util
import math
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from gankit import config as config_mod
from gankit.errors import ConfigError, DataError

# Modest and reproducible (derandomized); no shrinking, so a failure costs seconds, not minutes.
FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)

FIELDS = config_mod.field_names()
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "0",
            "-1",
            "1e400",
            "nan",
            "inf",
            "none",
            "true",
            "1,2",
            "gp=10",
            "{}",
            '{"a": 1}',
            "mlp",
            "ns",
            "lsgan",
            "8gaussians",
            "folder:",
            "adam",
            "rollback",
            "cpu",
            "0.5,0.999",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10))


@FUZZ
@given(st.dictionaries(keys, values, max_size=5))
def test_config_from_dict_and_resolve(d):
    try:
        cfg = config_mod.from_dict(d)
        config_mod.resolve(cfg)
    except ConfigError:
        pass


SECTIONS = ["data", "model", "loss", "recipe", "data_args", "bogus"]
assignments = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(FIELDS), st.text(max_size=12)),
    st.builds(
        lambda s, k, v: f"{s}.{k}={v}",
        st.sampled_from(SECTIONS),
        st.sampled_from(["width", "depth", "a", "b", "preset", "limit", "x", ""]),
        st.text(max_size=8),
    ),
)


@FUZZ
@given(st.lists(assignments, max_size=4))
def test_apply_set_then_resolve(sets):
    d: dict = {}
    try:
        for s in sets:
            config_mod.apply_set(d, s)
        config_mod.resolve(config_mod.from_dict(d))
    except ConfigError:
        pass


# --- the distribution SPEC parser of `gankit divergence` ---------------------------------------
HAS_SPEC = importlib.util.find_spec("gankit.theory.spec") is not None
spec_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="normaluifpcxd2m(),.*+-eE0123456789 ", max_size=50),
    st.builds(
        lambda name, nums: f"{name}({','.join(nums)})",
        st.sampled_from(["normal", "uniform", "laplace", "normal2d", "mix", "cauchy"]),
        st.lists(
            st.sampled_from(["0", "1", "-1", "0.5", "1e308", "1e999", "-0", ".5", "2e-320", "nan"]),
            max_size=6,
        ),
    ),
)


@pytest.mark.skipif(not HAS_SPEC, reason="gankit.theory.spec not present")
@FUZZ
@given(spec_text)
def test_distribution_spec_parser(text):
    from gankit.theory.spec import parse_spec

    try:
        d = parse_spec(text)
    except ConfigError:
        return
    assert d is not None


def test_spec_parser_accepts_and_refuses_known_strings():
    if not HAS_SPEC:
        pytest.skip("gankit.theory.spec not present")
    from gankit.theory.spec import parse_spec

    assert parse_spec("mix(0.5*normal(0,1), 0.5*normal(3,1))") is not None
    for bad in ("normal(0,-1)", "normal(0", "uniform(1,1)", "mix(0.3*normal(0,1))", "exec('x')"):
        with pytest.raises(ConfigError):
            parse_spec(bad)


# --- the IDX reader (MNIST files) -----------------------------------------------------------
HAS_IDX = importlib.util.find_spec("gankit.data.images") is not None


def _idx(magic: int, dims: list[int], body: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + body


idx_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda dims, body: _idx(2051, dims, body),
        st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=3),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda n, h, w, extra: _idx(2051, [n, h, w], bytes(n * h * w) + extra),
        st.integers(0, 4),
        st.integers(0, 4),
        st.integers(0, 4),
        st.binary(max_size=3),
    ),
    st.builds(
        lambda dims, body: _idx(2049, dims, body),
        st.lists(st.integers(0, 2**32 - 1), max_size=1),
        st.binary(max_size=16),
    ),
)


@pytest.mark.skipif(not HAS_IDX, reason="gankit.data.images not present")
@FUZZ
@given(idx_bytes, st.booleans(), st.sampled_from([2051, 2049]), st.integers(0, 5))
@example(_idx(2051, [1693, 73806019, 73814382], b""), False, 2051, 0)  # once an OverflowError
@example(_idx(2051, [1693, 73806019, 73814382], b""), True, 2051, 0)
def test_idx_reader(data, compress, magic, limit):
    from gankit.data.images import read_idx

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("f.idx.gz" if compress else "f.idx")
        raw = gzip.compress(data) if compress else data
        if compress and data[:1] == b"x":  # also feed corrupt gzip streams
            raw = raw[: len(raw) // 2]
        path.write_bytes(raw)
        try:
            x, count = read_idx(path, magic, limit)
        except DataError:
            return
        # Accepted: the shape is what the header says.
        ndim = magic & 0xFF
        dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
        assert count == dims[0]
        assert tuple(x.shape) == (min(limit, count) if limit else count, *dims[1:])
        assert x.numel() == (x.shape[0] * math.prod(dims[1:]))
