import os
from pathlib import Path

import pytest
import torch

# Two cores on the CI machine: one intra-op thread per test process keeps timings stable.
torch.set_num_threads(1)
os.environ.setdefault("GANKIT_PROGRESS", "none")


@pytest.fixture(autouse=True)
def no_measured_load(request, monkeypatch):
    """In-process trainers see no CPU load from other programs, so two fresh runs of a
    convolutional model choose the same thread count and can be compared bit for bit (the
    instantaneous /proc/stat sample varies from run to run). tests/test_threads.py tests the
    real measurement and sets the load itself."""
    if request.module.__name__.endswith("test_threads"):
        return
    from gankit.training import threads

    monkeypatch.setattr(threads, "cpu_load", lambda *args, **kwargs: 0.0)
    monkeypatch.setattr(threads.Sharing, "others_load", lambda self: 0.0)  # nor while they run


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


def tiny_recipe_cases() -> dict[str, dict]:
    """Config keywords of every multi-network recipe at a size that trains in a second; the
    MNIST-based ones only where the files are found. Shared by the multi-process and GPU tests."""
    cases = {
        # InfoGAN: Q's head shares D's body and belongs to both players
        "infogan": dict(recipe="infogan", data="8gaussians", batch_size=16),
    }
    data_dir = shared_data_dir()
    if data_dir is None:
        return cases
    mnist = dict(data_dir=str(data_dir), data_args={"limit": 128, "image_size": 16})
    cases.update(
        {
            # BEGAN: k is state that must stay identical everywhere
            "began": dict(
                data="mnist",
                loss="began",
                model="began",
                batch_size=8,
                model_args={"width": 8, "h_dim": 8, "convs": 1},
                **mnist,
            ),
            # ProGAN: unused future blocks get no gradient; wgan-gp's double backward
            "progressive": dict(
                data="mnist",
                recipe="progressive",
                batch_size=8,
                model_args={"fmap_base": 64, "fmap_max": 16},
                recipe_args={"fade_images": 16, "stable_images": 16},
                **mnist,
            ),
            # CycleGAN: two generators, two discriminators, image pools in buffers
            "cyclegan": dict(
                data="mnist2inverted",
                recipe="cyclegan",
                batch_size=4,
                model_args={"width": 8, "n_blocks": 1, "n_down": 1, "d_width": 8},
                data_dir=str(data_dir),
                data_args={"limit": 128},
            ),
        }
    )
    return cases
