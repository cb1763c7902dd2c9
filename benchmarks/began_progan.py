"""BEGAN and progressive growing (4 -> 32) on MNIST (or Fashion-MNIST, ``--data``) padded to
32x32, on this CPU: metrics over wall time.

    nice -n 10 python benchmarks/began_progan.py --which began   --out runs/bench-began   --max-wall-s 2100
    nice -n 10 python benchmarks/began_progan.py --which progan  --out runs/bench-progan  --max-wall-s 2100

BEGAN at the paper's 32x32 size on a GPU, for a fixed wall budget (the clock counts training and
pictures; the LeNet scoring of the saved samples runs after it):

    python benchmarks/began_progan.py --which began --device cuda --max-wall-s 600 --steps 1000000 \
        --eval-every 5000 --began-model '{"width": 64, "h_dim": 64, "convs": 2}' --out runs/bench-began-gpu

CPU-sized settings (smaller than the papers'): BEGAN with n = 16 channels, one conv per
resolution, bottleneck 32, gamma 0.5, lambda_k 0.001, Adam 1e-4 (0.5, 0.999), batch 16 (the paper's).
ProGAN with fmap_base 256 / fmap_max 32 (32 channels up to 16x16, 16 at 32x32), WGAN-GP
(gp 10) plus drift 0.001, one critic step per G step and Adam 1e-3 (0, 0.99) as in the paper,
G's EMA 0.99 for samples (0.999 averages over more steps than a phase has here), batch 32, fade and stable phases of ``--phase-images`` images.
Prints a Markdown table of the run's ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from gankit.config import Config
from gankit.data.images import to_float, to_uint8
from gankit.training.runfolder import MetricsLog
from gankit.training.trainer import Trainer

# CPU-sized BEGAN; the paper's 32x32 model is {"width": 64, "h_dim": 64, "convs": 2} (GPU).
BEGAN_CPU = {"width": 16, "h_dim": 32, "convs": 1}

COLUMNS = {
    "began": (
        "step",
        "images_seen",
        "wall_s",
        "fid_lenet",
        "precision_lenet",
        "recall_lenet",
        "class_kl",
        "k",
        "m_global",
    ),
    "progan": (
        "step",
        "images_seen",
        "wall_s",
        "resolution",
        "alpha",
        "fid_lenet",
        "precision_lenet",
        "recall_lenet",
    ),
}


def table(rows: list[dict], columns) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for k in columns:
            v = r.get(k)
            if v is None:
                cells.append("")
            elif k in ("step", "images_seen", "wall_s", "resolution"):
                cells.append(f"{v:.0f}")
            else:
                cells.append(f"{v:.3g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def config(args) -> Config:
    common = dict(
        data=args.data,
        data_args={"image_size": 32},
        data_dir=args.data_dir,
        steps=args.steps,
        batch_size=args.batch_size or (16 if args.which == "began" else 32),
        max_wall_s=args.max_wall_s,
        eval_every=args.eval_every,
        n_eval=args.n_eval,
        out=args.out,
        progress="lines",
        seed=0,
        device=args.device,
    )
    if args.which == "began":
        return Config(
            model="began",
            loss="began",
            model_args=json.loads(args.began_model),
            loss_args=json.loads(args.began_loss),
            lr=args.lr or 1e-4,
            **common,
        )
    return Config(
        model="progan",
        recipe="progressive",
        loss="wgan-gp",
        penalties={"gp": 10.0},
        n_critic=1,
        lr=args.lr or 1e-3,
        betas=(0.0, 0.99),
        ema=args.ema,
        z_dim=64,
        model_args={"fmap_base": 256, "fmap_max": 32},
        recipe_args={"fade_images": args.phase_images, "stable_images": args.phase_images},
        **common,
    )


def drop_classes(trainer, classes: list[int]) -> None:
    """Train without the images of ``classes`` (a causal test of which class G settles on; the
    reference set for the metrics keeps every class). Kept in RUN/bench-drop-classes.json so a
    ``--resume`` drops the same ones."""
    record = trainer.run_dir / "bench-drop-classes.json"
    if not classes and record.exists():
        classes = json.loads(record.read_text())
    if not classes:
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(classes))
    ds = trainer.dataset
    keep = ~torch.isin(ds.train_y, torch.tensor(classes))
    ds.train_x, ds.train_y = ds.train_x[keep], ds.train_y[keep]
    cfg = trainer.cfg
    stream = ds.stream(cfg.batch_size, cfg.seed, trainer.rank, trainer.world_size)
    if trainer.state.step > 0:  # resumed: the checkpoint's (filtered) stream state went into the
        stream.load_state_dict(trainer.stream.state_dict())  # stream built before filtering
    trainer.stream = stream.to(trainer.device)


def keep_samples(trainer) -> None:
    """Save each evaluation's samples (uint8) under RUN/bench-samples/ instead of scoring them
    inline, so the training clock holds training only; :func:`score` adds the metrics after."""
    folder = trainer.run_dir / "bench-samples"
    folder.mkdir(parents=True, exist_ok=True)

    def evaluate(fake, labels=None):
        torch.save(to_uint8(fake), folder / f"step-{trainer.state.step:08d}.pt")
        return {}

    trainer.dataset.evaluate = evaluate


def score(run_dir: Path, data_dir: str) -> list[dict]:
    """metrics.jsonl rows with the LeNet metrics of each evaluation's saved samples (the
    classifier of the run's own dataset; ``class_kl``: KL of the predicted-class histogram to
    uniform, log 10 = 2.30 when every sample is one class)."""
    from gankit.data.base import build_dataset
    from gankit.metrics.images import evaluate_images

    data = json.loads((run_dir / "config.json").read_text())["data"]
    dataset = build_dataset(data, {"image_size": 32}, data_dir)
    rows = MetricsLog(run_dir / "metrics.jsonl").read()
    for r in rows:
        path = run_dir / "bench-samples" / f"step-{r['step']:08d}.pt"
        if path.exists():
            fake = to_float(torch.load(path, weights_only=True))
            r.update(evaluate_images(data, fake, dataset.reference(fake.shape[0]).x))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--which", choices=("began", "progan"), required=True)
    p.add_argument("--data", choices=("mnist", "fashion-mnist"), default="mnist")
    p.add_argument("--out", default=None)
    p.add_argument("--steps", type=int, default=100_000)  # the wall-clock budget ends the run
    p.add_argument("--max-wall-s", type=float, default=2100.0)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--n-eval", type=int, default=1000)
    p.add_argument("--phase-images", type=int, default=8_000)
    # The paper's 0.999 averages over ~1000 steps, longer than a whole phase here (250 steps).
    p.add_argument("--ema", type=float, default=0.99)
    p.add_argument("--batch-size", type=int, default=0, help="0: 16 for BEGAN (the paper's), 32 for ProGAN")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    p.add_argument("--lr", type=float, default=0.0, help="0: 1e-4 for BEGAN, 1e-3 for ProGAN")
    p.add_argument("--began-model", default=json.dumps(BEGAN_CPU), help="BEGAN model_args as JSON")
    p.add_argument(
        "--began-loss", default="{}", help="BEGAN loss_args as JSON (default gamma 0.5, lambda_k 0.001)"
    )
    p.add_argument("--data-dir", default=os.environ.get("GANKIT_DATA", "/work/shared/data"))
    p.add_argument("--score-only", action="store_true", help="only score an existing run's saved samples")
    p.add_argument("--resume", action="store_true", help="continue the run in --out up to --max-wall-s")
    p.add_argument("--drop-classes", default="", help="comma-separated labels to leave out of training")
    args = p.parse_args()
    args.out = args.out or f"runs/bench-{args.which}"
    if args.resume:  # continue a stopped run with a larger wall-clock budget (cumulative)
        trainer = Trainer.from_run(args.out, overrides={"max_wall_s": args.max_wall_s})
        drop_classes(trainer, [])
        keep_samples(trainer)
        trainer.fit()
    elif not args.score_only:
        trainer = Trainer(config(args))
        drop_classes(trainer, [int(c) for c in args.drop_classes.split(",") if c.strip()])
        keep_samples(trainer)
        trainer.fit()
    print(table(score(Path(args.out), args.data_dir), COLUMNS[args.which]))


if __name__ == "__main__":
    main()
