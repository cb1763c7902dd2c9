"""InfoGAN on MNIST under a CPU-time budget: does the categorical code come to align with the
digit classes?

gankit's Trainer with recipe ``infogan`` (one 10-way categorical code, two continuous codes
with fixed std, lambda 1), model ``dcgan`` (28x28, batch norm), objective ``ns``, z of 62
noise dimensions, batch 64, Adam (0.5, 0.999) with the InfoGAN paper's learning rates (D 2e-4,
G 1e-3), one thread. Training stops after ``--cpu-minutes`` of the training process's CPU
time or ``--wall-minutes`` of wall time. Every ``--snapshot-every`` CPU seconds the run is
evaluated (outside the CPU budget): ``code_accuracy`` (best-permutation accuracy of the
categorical code against the shipped MNIST LeNet's label, ``--n-code`` samples) and the
dataset's metrics (fid_lenet, ...) on ``--n-eval`` samples against the test split.

    OMP_NUM_THREADS=1 nice python benchmarks/infogan_mnist.py --cpu-minutes 10 --wall-minutes 10
    python benchmarks/infogan_mnist.py --report

Results: ``benchmarks/results/infogan_mnist.json`` and the final code traversal grid
``docs/img/infogan_mnist_traverse.png`` (rows: categorical code, columns: continuous code 0
from -2 to 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
KEYS = ("code_accuracy", "fid_lenet", "class_coverage", "class_kl", "info_cat", "info_cont")


def train(a: argparse.Namespace) -> None:
    from gankit import config as config_mod
    from gankit.config import Config
    from gankit.training.trainer import Trainer
    from gankit.viz.images import image_grid, save_png

    torch.set_num_threads(1)
    folder = Path(a.out)
    cfg = Config(
        data="mnist",
        data_dir=a.data_dir,
        model=a.model,
        model_args={"width": a.width} if a.model == "dcgan" else {},
        recipe="infogan",
        recipe_args={"code_eval": a.n_code, "q_norm": a.q_norm},
        loss="ns",
        z_dim=62,
        batch_size=a.batch_size,
        lr_d=2e-4,
        lr_g=1e-3,
        betas=(0.5, 0.999),
        steps=10**7,
        n_eval=a.n_eval,
        out=str(folder),
        progress="none",
        seed=a.seed,
    )
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    trainer = Trainer(cfg)
    budget, cap = a.cpu_minutes * 60, a.wall_minutes * 60
    cpu, wall0, next_snapshot = 0.0, time.perf_counter(), 0.0
    rows, sums, count = [], {}, 0
    while True:
        done = cpu >= budget or time.perf_counter() - wall0 >= cap
        if cpu >= next_snapshot or done:
            row = {
                "step": trainer.state.step,
                "images_seen": trainer.state.images_seen,
                "cpu_s": round(cpu, 1),
                "wall_s": round(time.perf_counter() - wall0, 1),
                **{k: v / max(count, 1) for k, v in sums.items()},
                **trainer.evaluate(a.n_eval),
            }
            rows.append(row)
            sums, count = {}, 0
            print(json.dumps({k: row.get(k) for k in ("step", "cpu_s", "wall_s", *KEYS)}), flush=True)
            next_snapshot += a.snapshot_every
        if done:
            break
        t = time.process_time()
        logs = trainer.train_step()
        cpu += time.process_time() - t
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += 1
    latent, ncol = trainer.recipe.traversal_latent(steps=9, code=0)
    G = trainer.sampling_generator().eval()
    with torch.no_grad():
        grid = image_grid(G(latent), ncol)
    IMG.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_png(grid, IMG / f"infogan_mnist{suffix(a)}_traverse.png")
    result = {
        "cpu_minutes_budget": a.cpu_minutes,
        "wall_minutes_cap": a.wall_minutes,
        "threads": 1,
        "n_code": a.n_code,
        "n_eval": a.n_eval,
        "config": config_mod.to_dict(trainer.cfg),
        "rows": rows,
    }
    (RESULTS / f"infogan_mnist{suffix(a)}.json").write_text(json.dumps(result, indent=1, default=str))


def fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def suffix(a: argparse.Namespace) -> str:
    """Result names: the dcgan run of seed 0 keeps the plain name; other models and seeds add theirs."""
    return (
        ("" if a.model == "dcgan" else f"_{a.model}")
        + ("" if a.q_norm == "none" else f"_q{a.q_norm}")
        + (f"_seed{a.seed}" if a.seed else "")
    )


def report(a: argparse.Namespace) -> str:
    res = json.loads((RESULTS / f"infogan_mnist{suffix(a)}.json").read_text())
    head = "| step | images seen | train CPU (min) | wall (min) | " + " | ".join(KEYS) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in res["rows"]:
        lines.append(
            f"| {r['step']} | {r['images_seen']} | {r['cpu_s'] / 60:.1f} | {r['wall_s'] / 60:.1f} | "
            + " | ".join(fmt(r.get(k)) for k in KEYS)
            + " |"
        )
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-minutes", type=float, default=10.0)
    p.add_argument("--wall-minutes", type=float, default=30.0)
    p.add_argument("--snapshot-every", type=float, default=60.0, help="CPU seconds between evaluations")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default="/tmp/gankit-bench/infogan_mnist")
    p.add_argument("--n-eval", type=int, default=2000)
    p.add_argument("--n-code", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--model",
        default="dcgan",
        choices=["dcgan", "lucic"],
        help="lucic: the InfoGAN paper's MNIST networks",
    )
    p.add_argument("--width", type=int, default=32, help="dcgan's width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--q-norm", default="none", choices=["none", "batch"], help="Q's hidden-layer norm")
    p.add_argument("--report", action="store_true")
    a = p.parse_args()
    if a.report:
        print(report(a))
    else:
        train(a)


if __name__ == "__main__":
    main()
