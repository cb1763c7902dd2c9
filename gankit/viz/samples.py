"""Pictures of a batch of samples, by data kind (``gankit sample -o FILE.png``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from gankit.registry import Registry  # noqa: E402

SAMPLE_PICTURES = Registry("sample picture kind")


@SAMPLE_PICTURES.register("points")
def points_picture(samples: torch.Tensor, path: Path, title: str = "", dataset=None) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    if dataset is not None:
        real = dataset.reference(min(len(samples), 2000)).x
        ax.scatter(real[:, 0], real[:, 1], s=3, c="black", alpha=0.4, label="real")
    ax.scatter(samples[:, 0], samples[:, 1], s=3, c="tab:orange", alpha=0.6, label="generated")
    ax.set_aspect("equal")
    ax.legend(markerscale=4, fontsize=8)
    ax.set_title(title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


@SAMPLE_PICTURES.register("curves")
def curves_picture(samples: torch.Tensor, path: Path, title: str = "", dataset=None) -> None:
    xs = dataset.xs if dataset is not None else torch.linspace(-1, 1, samples.shape[1])
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in samples[: curves_picture.max_shown]:
        ax.plot(xs, s, color="tab:orange", alpha=0.6, lw=1)
    ax.set_title(title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


curves_picture.max_shown = 64


def shown_count(kind: str, n: int, path: Path) -> int:
    """How many of ``n`` samples the file at ``path`` holds: all in .npy, at most the picture
    kind's ``max_shown`` in a .png (a grid of 400 images, 64 curves; points: all)."""
    if Path(path).suffix != ".png":
        return n
    return min(n, getattr(SAMPLE_PICTURES.get(kind).factory, "max_shown", n))


def wrote_line(kind: str, n: int, path: Path) -> str:
    """What ``gankit sample`` says it wrote: the samples drawn and, if fewer, those shown."""
    shown = shown_count(kind, n, path)
    if shown == n:
        return f"wrote {n} samples to {path}"
    return f"drew {n} samples; {path} shows the first {shown} (write .npy to keep all {n})"


def write_samples(samples: torch.Tensor, path: Path, kind: str, title: str = "", dataset=None) -> Path:
    """``.npy``: the raw array; ``.png``: a picture for the data kind."""
    from gankit.errors import GankitError

    path = Path(path)
    if path.suffix not in (".npy", ".png"):
        raise GankitError(f"output {path} must end in .png (a picture) or .npy (raw samples)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".npy":
            import numpy as np

            np.save(path, samples.numpy())
        else:
            SAMPLE_PICTURES.get(kind).factory(samples, path, title=title, dataset=dataset)
    except OSError as e:
        raise GankitError(f"cannot write {path}: {e.strerror}") from None
    return path
