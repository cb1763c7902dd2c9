"""Train the LeNet feature extractors shipped in gankit/weights/ (used by fid_lenet & co).

    OMP_NUM_THREADS=1 python scripts/train_classifier.py mnist --data-dir ../shared/data
    OMP_NUM_THREADS=1 python scripts/train_classifier.py fashion-mnist

Reads the original gzip IDX files ``<data-dir>/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``,
trains with Adam on the 60,000 training images scaled to [-1, 1] (seeded shuffling, one thread,
deterministic kernels, so a rerun on the same torch version gives the same bytes), reports the
accuracy on the 10,000 test images, sets the feature scale (1 / std of the training set's
features), writes ``gankit/weights/lenet-<name>.safetensors`` and
records its sha256 in ``gankit/weights/SHA256SUMS``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.data.images import load_idx_split, to_float  # noqa: E402
from gankit.metrics.features import CHECKSUMS, WEIGHTS_DIR, LeNet, file_sha256, weights_path  # noqa: E402

DEFAULT_EPOCHS = {"mnist": 3, "fashion-mnist": 5}


def load_split(data_dir: Path, name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 28, 28) float32 images in [-1, 1] and (N,) int64 labels; split 'train' or 'test'."""
    images, labels = load_idx_split(name, str(data_dir), split)
    return to_float(images.unsqueeze(1)), labels


@torch.no_grad()
def accuracy(model: LeNet, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(
        int((model.logits(xb).argmax(1) == yb).sum())
        for xb, yb in zip(x.split(1000), y.split(1000), strict=True)
    )
    return correct / len(y)


def train(
    name: str, data_dir: Path, epochs: int, seed: int, batch_size: int, lr: float, max_minutes: float
) -> dict:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    x_train, y_train = load_split(data_dir, name, "train")
    x_test, y_test = load_split(data_dir, name, "test")
    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * (len(x_train) // batch_size))
    gen = torch.Generator().manual_seed(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(len(x_train) // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = F.cross_entropy(model.logits(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if (time.process_time() - c0) / 60 > max_minutes:  # CPU time: the same cut under any load
                print(f"time cap of {max_minutes} min reached in epoch {epoch + 1}", flush=True)
                break
        else:
            acc = accuracy(model, x_test, y_test)
            print(
                f"{name} epoch {epoch + 1}: loss {loss.item():.4f} test accuracy {acc:.4f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
            continue
        break
    acc = accuracy(model, x_test, y_test)
    with torch.no_grad():  # unit overall std of the features on the training set
        model.feature_scale.fill_(1.0 / torch.cat([model.fc1_out(xb) for xb in x_train.split(1000)]).std())
    return {
        "model": model,
        "test_accuracy": acc,
        "epochs": epoch + 1,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
    }


def save(name: str, result: dict, seed: int, out_dir: Path = WEIGHTS_DIR) -> Path:
    from safetensors.torch import save_file

    path = out_dir / weights_path(name).name
    checksums = out_dir / CHECKSUMS.name
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in result["model"].state_dict().items()}
    meta = {
        "dataset": name,
        "test_accuracy": f"{result['test_accuracy']:.4f}",
        "epochs": str(result["epochs"]),
        "seed": str(seed),
        "torch": torch.__version__,
        "script": "scripts/train_classifier.py",
    }
    # one metadata key: safetensors writes a map's keys in no fixed order, which would make
    # two runs' files differ in their header although every weight is bit-identical
    save_file(state, str(path), metadata={"gankit": json.dumps(meta, sort_keys=True)})
    path.chmod(0o644)
    lines = [
        ln
        for ln in (checksums.read_text().splitlines() if checksums.exists() else [])
        if not ln.endswith(path.name)
    ]
    lines.append(f"{file_sha256(path)}  {path.name}")
    checksums.write_text("\n".join(sorted(lines, key=lambda s: s.split()[-1])) + "\n")
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dataset", choices=["mnist", "fashion-mnist"])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--epochs", type=int, default=None, help="default: 3 for mnist, 5 for fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-minutes", type=float, default=15.0, help="stop training after this much CPU time")
    p.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help="where to write (to check a rebuild)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    result = train(args.dataset, args.data_dir, epochs, args.seed, args.batch_size, args.lr, args.max_minutes)
    path = save(args.dataset, result, args.seed, args.out_dir)
    print(
        f"{args.dataset}: test accuracy {result['test_accuracy']:.4f} after {result['epochs']} epochs "
        f"in {result['seconds']:.0f} s ({result['cpu_seconds']:.0f} CPU-s); wrote {path} ({path.stat().st_size} bytes, sha256 {file_sha256(path)})"
    )


if __name__ == "__main__":
    main()
