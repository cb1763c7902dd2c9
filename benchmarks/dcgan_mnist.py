"""DCGAN on MNIST with the ns, lsgan and wgan-gp objectives under a CPU-time budget.

Each loss trains with gankit's Trainer (model dcgan, 28x28, batch 64, one thread, the
objective's recommended optimizer settings; wgan-gp's critic uses layer norm instead of batch
norm, since the gradient penalty needs per-sample gradients) until ``--cpu-minutes`` of the
training process's CPU time (``time.process_time``; one thread, so about the time of one
dedicated core; a shared machine's waiting is excluded) or ``--wall-minutes`` of wall time.
Every ``--snapshot-every`` CPU seconds it stores the fixed-noise samples (``--n-eval``); after
training, each snapshot is scored with the dataset's metrics (fid_lenet, classifier score,
class coverage, class-histogram KL, ...) against the test split, so the metrics' own cost is
not part of the budget. The real-data floor is the same metrics for test images against
training images.

    OMP_NUM_THREADS=1 nice python benchmarks/dcgan_mnist.py --loss ns --cpu-minutes 15
    python benchmarks/dcgan_mnist.py --loss floor
    python benchmarks/dcgan_mnist.py --report          # markdown table of the saved results

Results: ``benchmarks/results/dcgan_mnist_<loss>.json`` (one row per snapshot) and the final
fixed-noise grid and training GIF in ``docs/img/dcgan_mnist_<loss>.{png,gif}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
LOSSES = ("ns", "lsgan", "wgan-gp")
KEYS = (
    "fid_lenet",
    "classifier_score_lenet",
    "class_coverage",
    "class_kl",
    "precision_lenet",
    "recall_lenet",
)


def train(loss: str, a: argparse.Namespace, folder: Path) -> None:
    """Train under the budget, saving (step, images, cpu, wall, uint8 samples) snapshots."""
    from gankit import config as config_mod
    from gankit.config import Config
    from gankit.data.images import to_uint8
    from gankit.training.trainer import Trainer
    from gankit.viz.images import image_grid, save_png, write_progress_gif

    torch.set_num_threads(1)
    model_args = {"d_norm": "layer"} if loss == "wgan-gp" else {}
    cfg = Config(
        data="mnist",
        model="dcgan",
        loss=loss,
        data_dir=a.data_dir,
        model_args=model_args,
        batch_size=a.batch_size,
        steps=10**7,
        n_eval=a.n_eval,
        out=str(folder),
        progress="none",
        seed=0,
    )
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "pictures").mkdir(parents=True)
    trainer = Trainer(cfg)
    (folder / "config.json").write_text(json.dumps(config_mod.to_dict(trainer.cfg), indent=1))
    budget, cap = a.cpu_minutes * 60, a.wall_minutes * 60
    cpu = 0.0
    wall0 = time.perf_counter()
    next_snapshot = 0.0
    snapshots = []
    while True:
        done = cpu >= budget or time.perf_counter() - wall0 >= cap
        if cpu >= next_snapshot or done:
            fake, _ = trainer.generate(a.n_eval)
            step = trainer.state.step
            np.save(folder / f"samples-{step:08d}.npy", to_uint8(fake).numpy())
            save_png(image_grid(fake[:64], 8), folder / "pictures" / f"step-{step:08d}.png")
            snapshots.append(
                {
                    "step": step,
                    "images_seen": trainer.state.images_seen,
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(time.perf_counter() - wall0, 2),
                }
            )
            (folder / "snapshots.json").write_text(json.dumps(snapshots))
            next_snapshot += a.snapshot_every
            print(json.dumps(snapshots[-1]), flush=True)
        if done:
            break
        t = time.process_time()
        trainer.train_step()
        cpu += time.process_time() - t
    write_progress_gif(folder / "pictures")


def score(loss: str, a: argparse.Namespace, folder: Path) -> None:
    """Metrics of every snapshot; writes the results JSON and copies the pictures."""
    from gankit.data import build_dataset
    from gankit.data.images import to_float

    ds = build_dataset("mnist", {}, a.data_dir)
    snapshots = json.loads((folder / "snapshots.json").read_text())
    rows = []
    for snap in snapshots:
        fake = to_float(torch.from_numpy(np.load(folder / f"samples-{snap['step']:08d}.npy")))
        rows.append({**snap, **ds.evaluate(fake)})
        print(json.dumps({k: rows[-1].get(k) for k in ("step", "cpu_s", *KEYS)}), flush=True)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else None
    result = {
        "loss": loss,
        "cpu_minutes_budget": a.cpu_minutes,
        "wall_minutes_cap": a.wall_minutes,
        "threads": 1,
        "batch_size": a.batch_size,
        "n_eval": a.n_eval,
        "rows": rows,
        "config": config,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    IMG.mkdir(parents=True, exist_ok=True)
    name = f"dcgan_mnist_{loss}{a.suffix}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    last = folder / "pictures" / f"step-{snapshots[-1]['step']:08d}.png"
    shutil.copyfile(last, IMG / f"{name}.png")
    if (folder / "pictures" / "progress.gif").exists():
        shutil.copyfile(folder / "pictures" / "progress.gif", IMG / f"{name}.gif")


def floor(a: argparse.Namespace) -> None:
    from gankit.metrics.images import real_data_floor

    out = real_data_floor("mnist", a.data_dir, n=a.n_eval)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dcgan_mnist_floor.json").write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out, default=str))


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def report() -> str:
    head = "| loss | steps | images seen | train CPU (min) | wall (min) | fid_lenet | classifier score | classes | class KL | precision | recall |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for loss in LOSSES:
        path = RESULTS / f"dcgan_mnist_{loss}.json"
        if path.exists():
            last = json.loads(path.read_text())["rows"][-1]
            lines.append(
                f"| {loss} | {last['step']} | {last['images_seen']} | {last['cpu_s'] / 60:.1f} | "
                f"{last['wall_s'] / 60:.1f} | " + " | ".join(fmt(last.get(k)) for k in KEYS) + " |"
            )
    fl = RESULTS / "dcgan_mnist_floor.json"
    if fl.exists():
        f = json.loads(fl.read_text())
        lines.append(
            "| real test vs train (floor) | - | - | - | - | " + " | ".join(fmt(f.get(k)) for k in KEYS) + " |"
        )
    lines += ["", "fid_lenet / classes covered over training (train CPU minutes):", ""]
    for loss in LOSSES:
        path = RESULTS / f"dcgan_mnist_{loss}.json"
        if path.exists():
            rows = json.loads(path.read_text())["rows"]
            pts = ", ".join(
                f"{r['cpu_s'] / 60:.1f} min: {fmt(r.get('fid_lenet'))} / {r.get('class_coverage')}"
                for r in rows
            )
            lines.append(f"- {loss}: {pts}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=[*LOSSES, "floor"])
    p.add_argument("--cpu-minutes", type=float, default=15.0)
    p.add_argument("--wall-minutes", type=float, default=60.0)
    p.add_argument("--snapshot-every", type=float, default=60.0, help="CPU seconds between snapshots")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default="/tmp/gankit-bench")
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--suffix", default="", help="appended to the result names, e.g. _15min")
    p.add_argument("--score-only", action="store_true", help="score the saved snapshots again")
    p.add_argument("--report", action="store_true")
    a = p.parse_args()
    if a.report:
        print(report())
    elif a.loss == "floor":
        floor(a)
    elif a.loss:
        folder = Path(a.out) / f"dcgan-mnist-{a.loss}{a.suffix}"
        if not a.score_only:
            train(a.loss, a, folder)
        score(a.loss, a, folder)
    else:
        p.error("give --loss or --report")


if __name__ == "__main__":
    main()
