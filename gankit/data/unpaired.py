"""Unpaired two-domain image data for translation (CycleGAN): batches hold domain A in
``Batch.x`` and domain B in ``Batch.x2``, drawn independently, so no pair is ever shown.

- ``unpaired:PATH``: a folder with ``trainA/ trainB/`` (and ``testA/ testB/`` for evaluation;
  the training images stand in when they are missing), the layout of Zhu et al.'s data sets.
- ``mnist2inverted``: MNIST digits (A) to restyled MNIST digits (B), the two domains drawn from
  disjoint halves of MNIST so no digit image exists in both. ``style=inverted`` (default):
  white background, black strokes; ``style=thick``: strokes dilated by a 3x3 maximum.

Metrics of a translation task (``evaluate_translation``): the cycle reconstruction error
(mean |G_BA(G_AB(a)) - a| per pixel, and for B), and for the MNIST task the label
preservation accuracy of the shipped MNIST classifier and a Frechet distance of its features
between translated and target-domain test images (see ``MnistRestyle``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.data.base import DATASETS, Batch, Dataset, Stream, TensorStream
from gankit.data.folder import FolderOptions, load_folder
from gankit.data.images import load_idx_split, to_float
from gankit.errors import ConfigError, DataError
from gankit.viz.pictures import PICTURES

KIND = "unpaired-images"


def _decode(parts: dict[str, torch.Tensor], gen=None) -> dict[str, torch.Tensor]:
    return {"x": to_float(parts["x"])}


class UnpairedStream(Stream):
    """Independent batches of A and B, each epoch by epoch without replacement."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, batch_size: int, seed: int, rank=0, world_size=1):
        self.a = TensorStream({"x": a}, batch_size, seed, rank, world_size, transform=_decode)
        self.b = TensorStream({"x": b}, batch_size, seed + 1_000_003, rank, world_size, transform=_decode)

    def next(self) -> Batch:
        return Batch(self.a.next().x, None, self.b.next().x)

    def to(self, device):
        self.a.to(device)
        self.b.to(device)
        return self

    def state_dict(self):
        return {"a": self.a.state_dict(), "b": self.b.state_dict()}

    def load_state_dict(self, state):
        self.a.load_state_dict(state["a"])
        self.b.load_state_dict(state["b"])


class UnpairedDataset(Dataset):
    """Training and test images of two domains, uint8 (N, C, H, W); labels optional."""

    kind = KIND

    def __init__(self, train_a, train_b, test_a, test_b, labels_a=None, labels_b=None):
        self.train_a, self.train_b = train_a, train_b
        self.test_a, self.test_b = test_a, test_b
        self.labels_a, self.labels_b = labels_a, labels_b  # of the test images
        self.sample_shape = tuple(train_a.shape[1:])
        self.sample_shape_b = tuple(train_b.shape[1:])

    def stream(self, batch_size, seed, rank=0, world_size=1):
        n = min(len(self.train_a), len(self.train_b)) // world_size
        if n < batch_size:
            raise ConfigError(
                f"dataset {self.name} has {n} training images in its smaller domain per process; "
                f"batch_size={batch_size} needs at least that many"
            )
        return UnpairedStream(self.train_a, self.train_b, batch_size, seed, rank, world_size)

    def eval_set(self, n: int):
        """The first ``n`` test images of each domain: (a, labels_a, b, labels_b), floats in [-1, 1]."""
        na, nb = min(n, len(self.test_a)), min(n, len(self.test_b))
        la = None if self.labels_a is None else self.labels_a[:na]
        lb = None if self.labels_b is None else self.labels_b[:nb]
        return to_float(self.test_a[:na]), la, to_float(self.test_b[:nb]), lb

    def reference(self, n, seed=0):
        a, la, b, _ = self.eval_set(n)
        return Batch(a, la, b)

    def evaluate_translation(self, translate, n: int, chunk: int = 250) -> dict[str, float]:
        """Metrics of ``translate(x, "AtoB" | "BtoA") -> images`` on up to ``n`` test images per domain."""
        a, la, b, lb = self.eval_set(n)

        def run(x, direction):
            return torch.cat([translate(part, direction) for part in torch.split(x, chunk)])

        fake_b, fake_a = run(a, "AtoB"), run(b, "BtoA")
        rec_a, rec_b = run(fake_b, "BtoA"), run(fake_a, "AtoB")
        out = {
            "cycle_l1_a": float((rec_a - a).abs().mean()),
            "cycle_l1_b": float((rec_b - b).abs().mean()),
        }
        out.update(self.judge(a, la, fake_b, b, lb, fake_a))
        return out

    def judge(self, a, labels_a, fake_b, b, labels_b, fake_a) -> dict[str, float]:
        """Task-specific metrics of the translations; none for arbitrary folders."""
        return {}

    def main_metric(self):
        return "cycle_l1_a"


# --- unpaired:PATH ----------------------------------------------------------------------------
@dataclasses.dataclass
class UnpairedOptions:
    path: str = ""  # folder with trainA/ trainB/ [testA/ testB/]; --data unpaired:PATH sets it
    image_size: int = 64  # side of the square images (resized, centre-cropped)
    channels: int = 3  # 1 (grayscale) or 3 (RGB), both domains
    limit: int = 0  # use only the first N files of each subfolder (0: all)

    def check(self):
        if not self.path:
            raise ConfigError("dataset unpaired needs a folder: use --data unpaired:PATH")
        FolderOptions(
            path=self.path, image_size=self.image_size, channels=self.channels, limit=self.limit
        ).check()


@DATASETS.register("unpaired", options=UnpairedOptions)
def unpaired(opts: UnpairedOptions, data_dir=None):
    """Two image domains from a folder with trainA/ trainB/ testA/ testB/ (unpaired:PATH)."""
    root = Path(opts.path).expanduser()
    if not (root / "trainA").is_dir() or not (root / "trainB").is_dir():
        raise DataError(
            f"{root} must hold the subfolders trainA/ and trainB/ (and testA/ testB/ for evaluation)"
        )

    def load(sub: str) -> torch.Tensor:
        fo = FolderOptions(
            path=str(root / sub), image_size=opts.image_size, channels=opts.channels, limit=opts.limit
        )
        return load_folder(fo)[0]

    train_a, train_b = load("trainA"), load("trainB")
    test_a = load("testA") if (root / "testA").is_dir() else train_a
    test_b = load("testB") if (root / "testB").is_dir() else train_b
    return UnpairedDataset(train_a, train_b, test_a, test_b)


# --- mnist2inverted -----------------------------------------------------------------------------
STYLES = ("inverted", "thick")
SPLIT_SEED = 4_242


@dataclasses.dataclass
class MnistRestyleOptions:
    style: str = "inverted"  # domain B: inverted | thick
    limit: int = 0  # use only the first N images of each MNIST split before halving (0: all)

    def check(self):
        if self.style not in STYLES:
            raise ConfigError(f"style={self.style!r}; choose one of: {', '.join(STYLES)}")
        if self.limit < 0:
            raise ConfigError(f"limit={self.limit}; allowed: 0 (all) or a positive count")


def restyle(x: torch.Tensor, style: str) -> torch.Tensor:
    """uint8 (N, 1, H, W) MNIST digits -> the same digits in domain B's style."""
    if style == "inverted":
        return 255 - x
    return F.max_pool2d(x.float(), 3, stride=1, padding=1).to(torch.uint8)  # thick: 3x3 dilation


def halves(x: torch.Tensor, y: torch.Tensor, seed: int):
    """A seeded split of a split into two disjoint halves: (x_a, y_a, x_b, y_b)."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    ia, ib = perm[: len(x) // 2], perm[len(x) // 2 :]
    return x[ia], y[ia], x[ib], y[ib]


class MnistRestyle(UnpairedDataset):
    """MNIST (A) <-> restyled MNIST (B), from disjoint halves of each MNIST split.

    Label preservation: the shipped MNIST classifier reads A-domain digits; a B-domain image
    is first mapped back by ``to_a_style`` (inverted: x -> -x in [-1, 1], exact; thick: left
    as is, the classifier reads thick digits directly; ``label_acc_real_b`` is its accuracy on
    real B test digits, the ceiling for ``label_acc_ab``). ``fid_ab`` / ``fid_ba``: Frechet
    distance between the classifier's 128-d features of translated test images and of the
    target domain's own test images (both read through ``to_a_style``).
    """

    def __init__(self, style: str, data_dir=None, limit: int = 0):
        self.style = style
        xs, ys = {}, {}
        for split in ("train", "test"):
            x, y = load_idx_split("mnist", data_dir, split, limit)
            xa, ya, xb, yb = halves(x.unsqueeze(1), y, SPLIT_SEED + (split == "test"))
            xs[split] = (xa, restyle(xb, style))
            ys[split] = (ya, yb)
        super().__init__(*xs["train"], *xs["test"], *ys["test"])

    def to_a_style(self, x: torch.Tensor) -> torch.Tensor:
        return -x if self.style == "inverted" else x

    def judge(self, a, labels_a, fake_b, b, labels_b, fake_a):
        from gankit.metrics.distances import frechet_distance
        from gankit.metrics.features import extract, load_classifier

        try:
            clf = load_classifier("mnist")
        except DataError as e:  # weights not installed: the cycle error is still reported
            import warnings

            warnings.warn(f"label preservation skipped: {e}", stacklevel=2)
            return {}
        f_fake_b, p_fake_b = extract(clf, self.to_a_style(fake_b))
        f_fake_a, p_fake_a = extract(clf, fake_a)
        f_b, p_b = extract(clf, self.to_a_style(b))
        f_a, _ = extract(clf, a)
        return {
            "label_acc_ab": float((p_fake_b.argmax(1) == labels_a).double().mean()),
            "label_acc_ba": float((p_fake_a.argmax(1) == labels_b).double().mean()),
            "fid_ab": frechet_distance(f_fake_b, f_b),
            "fid_ba": frechet_distance(f_fake_a, f_a),
            "label_acc_real_b": float((p_b.argmax(1) == labels_b).double().mean()),
        }

    def main_metric(self):
        return "label_acc_ab"


@DATASETS.register("mnist2inverted", options=MnistRestyleOptions)
def mnist2inverted(opts: MnistRestyleOptions, data_dir=None):
    """MNIST digits to inverted (or thick) MNIST digits from disjoint halves: unpaired, offline."""
    return MnistRestyle(opts.style, data_dir, opts.limit)


# --- pictures -------------------------------------------------------------------------------
def grid(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of images (n, C, H, W) in [-1, 1] -> one RGB picture (3, rows*(H+2), n*(W+2)) in [0, 1]."""
    tiles = []
    for r in rows:
        r = (r.float().clamp(-1, 1) + 1) / 2
        r = r.expand(-1, 3, -1, -1) if r.shape[1] == 1 else r
        r = F.pad(r, (1, 1, 1, 1), value=1.0)  # (n, 3, H+2, W+2)
        tiles.append(torch.cat(list(r), dim=2))  # (3, H+2, n*(W+2))
    return torch.cat(tiles, dim=1)


@torch.no_grad()
def translation_rows(translate, a: torch.Tensor, b: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    fake_b, fake_a = translate(a, "AtoB"), translate(b, "BtoA")
    return [
        ("A", a),
        ("A->B", fake_b),
        ("A->B->A", translate(fake_b, "BtoA")),
        ("B", b),
        ("B->A", fake_a),
        ("B->A->B", translate(fake_a, "AtoB")),
    ]


@PICTURES.register(KIND)
def draw_translations(trainer, path: Path, n: int = 8) -> Path:
    """Rows: A, A->B, A->B->A, B, B->A, B->A->B for fixed test images."""
    from gankit.viz.pictures import _save, plt

    G = trainer.sampling_generator()
    a, _, b, _ = trainer.dataset.eval_set(n)
    was = G.training
    G.eval()
    try:
        rows = translation_rows(lambda x, d: G(x.to(trainer.device), d).float().cpu(), a, b)
    finally:
        G.train(was)
    picture = grid([r for _, r in rows])
    h = picture.shape[1] / len(rows)
    fig, ax = plt.subplots(figsize=(max(4.0, picture.shape[2] / 40), max(3.0, picture.shape[1] / 40)))
    ax.imshow(picture.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_yticks([h * (i + 0.5) for i in range(len(rows))], [name for name, _ in rows], fontsize=8)
    ax.set_xticks([])
    ax.set_title(f"{trainer.cfg.data} / {trainer.cfg.loss}, step {trainer.state.step}", fontsize=9)
    return _save(fig, path)
