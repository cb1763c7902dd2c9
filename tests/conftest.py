import os
from pathlib import Path

import pytest
import torch

# Two cores on the CI machine: one intra-op thread per test process keeps timings stable.
torch.set_num_threads(1)
os.environ.setdefault("GANKIT_PROGRESS", "none")


def shared_data_dir() -> Path | None:
    env = os.environ.get("GANKIT_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if (c / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return c
    return None


@pytest.fixture
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("MNIST files not found: set GANKIT_TEST_DATA or place shared/data beside the repo")
    return d
