"""Stacked-MNIST mode collapse: plain ns DCGAN against PacGAN packing and minibatch statistics.

Every variant trains the same DCGAN (``--width``, 28x28x3, batch ``--batch-size``, Adam 2e-4
(0.5, 0.999)) for the same number of steps, several seeds, and is judged on ``--n-samples``
generated images (PacGAN: 26,000): each channel is classified by gankit's MNIST LeNet, a
sample's mode is 100 d_R + 10 d_G + d_B; reported: modes covered out of 1,000 and KL(mode
histogram || uniform) (PacGAN table 2: DCGAN 99 modes, KL 3.40; PacDCGAN2-4 1000 modes).

The whole benchmark fits a wall-clock budget (``--wall-budget`` seconds): runs go to
``--workers`` parallel processes sharing the device (on CUDA all 18 runs at once: one small
DCGAN leaves an H100 mostly idle); each run's training is capped at the time its wave of
workers has left, so a run cut short reports the steps it reached (the table says so) instead
of overrunning. Measured on an H100 with 16 cores: 18 runs of 2,500 steps in 152 s.

    # on a GPU machine (H100, 16 cores), about 4-5 minutes in all:
    python benchmarks/stacked_mnist.py --device cuda --steps 4000 --wall-budget 330 \
        --out benchmarks/out/stacked_mnist --work /tmp/stacked_mnist_runs
    # PacGAN table 3: a narrow D, where the published DCGAN collapses. On the 2-core CPU, 18 min:
    # D's channels 2, 4: plain 723 modes, pack2 839, pack4 900 (3 seeds; docs/pacgan.md)
    python benchmarks/stacked_mnist.py --device cpu --workers 2 --threads 1 --wall-budget 0 \
        --steps 2500 --d-width 2 --variants plain pack2 pack4 --out benchmarks/out/stacked_mnist_d2_cpu
    # a tiny CPU check (a minute):
    OMP_NUM_THREADS=1 python benchmarks/stacked_mnist.py --tiny --out /tmp/stacked_tiny

Writes ``<out>/results.json`` (one row per run plus the settings) and ``<out>/table.md``; the
run folders (checkpoints, pictures) and per-run logs go to ``--work`` (default: ``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {  # name -> recipe_args
    "plain": {},
    "pack2": {"pack": 2},
    "pack3": {"pack": 3},
    "pack4": {"pack": 4},
    "mbstd": {"mbstd": 4},
    "minibatch-disc": {"minibatch_disc": 100, "mbd_dims": 5},  # Salimans et al.'s B=100, C=5
}
PUBLISHED = {  # PacGAN (Lin et al. 2018) table 2, stacked-MNIST, modes of 1000 and KL
    "plain": "DCGAN: 99.0 modes, KL 3.40",
    "pack2": "PacDCGAN2: 1000.0 modes, KL 0.06",
    "pack3": "PacDCGAN3: 1000.0 modes, KL 0.06",
    "pack4": "PacDCGAN4: 1000.0 modes, KL 0.07",
}
PUBLISHED_NARROW_D = {  # table 3: the same networks with D at 1/4 and 1/2 of G, 50 trials, modes
    "plain": "DCGAN: 78.5 / 487.7 modes",
    "pack2": "PacDCGAN2: 484.5 / 840.7 modes",
    "pack3": "PacDCGAN3: 601.3 / 866.6 modes",
    "pack4": "PacDCGAN4: 667.4 / 820.2 modes",
}
STARTUP_S = 25.0  # per run, outside training: imports, CUDA context, data decoding, evaluation


def find_data_dir(given: str | None) -> str | None:
    """The folder holding ``mnist/``: --data-dir, $GANKIT_DATA, the shared checkout's data, or
    gankit's cache (None)."""
    if given:
        return given
    if os.environ.get("GANKIT_DATA"):
        return os.environ["GANKIT_DATA"]
    for cand in (
        ROOT.parent / "shared" / "data",
        ROOT / "shared" / "data",
        ROOT / "benchmarks" / "out" / "data",
    ):
        if (cand / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return str(cand)
    return None


# --- one run (a child process) ----------------------------------------------------------------
def stacked_mode_metrics(samples, device: str, chunk: int = 2000) -> dict:
    """Generated images (N, 3, H, W) in [-1, 1] -> modes_stacked and kl_stacked, the LeNet run
    on ``device`` (the same classifier and mode rule as gankit.metrics.images)."""
    import copy

    import torch

    from gankit.metrics.features import load_classifier
    from gankit.metrics.images import stacked_modes

    model = copy.deepcopy(load_classifier("mnist")).to(device).eval()
    probs = []
    with torch.no_grad():
        for part in samples.split(chunk):
            part = part.to(device)
            # (n, 3, H, W) -> (3n, 1, H, W): every channel classified on its own
            logits = model.logits(part.reshape(-1, 1, *part.shape[2:]))
            probs.append(torch.softmax(logits.double(), dim=1).reshape(part.shape[0], 3, 10).cpu())
    return stacked_modes(torch.cat(probs))


def run_one(variant: str, seed: int, a: argparse.Namespace) -> dict:
    import torch

    from gankit.config import Config
    from gankit.training.trainer import Trainer

    torch.set_num_threads(a.threads)
    cfg = Config(
        data="stacked-mnist",
        model="dcgan",
        loss="ns",
        data_dir=find_data_dir(a.data_dir),
        data_args={"size": a.data_size, "limit": a.limit},
        model_args={"width": a.width, "d_width": a.d_width},
        recipe_args=VARIANTS[variant],
        steps=a.steps,
        batch_size=a.batch_size,
        lr=2e-4,
        betas=(0.5, 0.999),
        seed=seed,
        device=a.device,
        eval_every=a.steps,
        n_eval=a.n_eval,
        max_wall_s=a.run_cap_s,
        progress="none",
        out=str(Path(a.work or a.out) / "runs" / f"{variant}-s{seed}"),
    )
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    row = trainer.fit(progress=False)
    train_s = time.perf_counter() - t0
    samples, _ = trainer.generate(a.n_samples)
    metrics = stacked_mode_metrics(samples, str(trainer.device))
    return {
        "variant": variant,
        "seed": seed,
        "steps": trainer.state.step,
        "steps_asked": a.steps,
        "modes": metrics["modes_stacked"],
        "kl": round(metrics["kl_stacked"], 4),
        "fid_lenet": row.get("fid_lenet"),  # on n_eval samples, from the run's last evaluation
        "train_s": round(train_s, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
        "device": str(trainer.device),
    }


# --- the driver -----------------------------------------------------------------------------
def schedule(runs: list[tuple[str, int]], a: argparse.Namespace) -> list[dict]:
    """Run ``runs`` in ``a.workers`` child processes within ``a.wall_budget`` seconds."""
    t_start = time.perf_counter()
    waves = math.ceil(len(runs) / a.workers)
    cap = max(10.0, (a.wall_budget - waves * STARTUP_S) / waves) if a.wall_budget > 0 else 0.0
    limit = f"training capped at {cap:.0f} s per run" if cap else "no time cap (--wall-budget 0)"
    print(f"{len(runs)} runs, {a.workers} at a time ({waves} waves), {limit}", flush=True)
    pending, active, rows = list(runs), {}, []
    rows_dir = Path(a.work or a.out) / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "PYTHONPATH": str(ROOT)}
    while pending or active:
        left = a.wall_budget - (time.perf_counter() - t_start) if a.wall_budget > 0 else math.inf
        while pending and len(active) < a.workers:
            if left < STARTUP_S + 10:  # no time left for another run
                print(f"wall budget spent: skipped {len(pending)} runs: {pending}", flush=True)
                pending = []
                break
            variant, seed = pending.pop(0)
            run_cap = min(cap, left - STARTUP_S) if cap else 0.0
            path = rows_dir / f"{variant}-s{seed}.json"
            argv = [sys.executable, __file__, "--one", variant, str(seed), "--row", str(path)]
            argv += child_args(a, run_cap)
            log = open(rows_dir / f"{variant}-s{seed}.log", "w")  # noqa: SIM115 (closed below)
            active[(variant, seed)] = (subprocess.Popen(argv, env=env, stdout=log, stderr=log), path, log)
            done = len(runs) - len(pending) - len(active)
            print(
                f"started {variant} seed {seed} ({done} of {len(runs)} runs done, {time.perf_counter() - t_start:.0f} s)",
                flush=True,
            )
        for key, (proc, path, log) in list(active.items()):
            if proc.poll() is None:
                continue
            log.close()
            del active[key]
            if proc.returncode == 0 and path.exists():
                row = json.loads(path.read_text())
                rows.append(row)
                print(json.dumps(row), flush=True)
            else:
                print(f"run {key} failed (exit {proc.returncode}); see {log.name}", flush=True)
        time.sleep(0.5)
    return rows


def child_args(a: argparse.Namespace, run_cap: float) -> list[str]:
    out = ["--steps", str(a.steps), "--batch-size", str(a.batch_size), "--width", str(a.width)]
    out += ["--d-width", str(a.d_width)]
    out += ["--device", a.device, "--n-samples", str(a.n_samples), "--n-eval", str(a.n_eval)]
    out += ["--data-size", str(a.data_size), "--limit", str(a.limit), "--threads", str(a.threads)]
    out += ["--out", a.out, "--work", a.work or a.out, "--run-cap-s", f"{run_cap:.1f}"]
    if a.data_dir:
        out += ["--data-dir", a.data_dir]
    return out


def table(rows: list[dict], narrow_d: bool = False) -> str:
    """The markdown table; beside PacGAN table 3's narrow-D rows when D is narrower than G."""
    published, source = (
        (PUBLISHED_NARROW_D, "PacGAN table 3 (D = G/4 / G/2)") if narrow_d else (PUBLISHED, "PacGAN table 2")
    )
    lines = [
        "| variant | seeds | modes of 1000 (mean, min-max) | KL to uniform (mean, min-max) | steps | "
        f"train s / run | {source} |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        rs = [r for r in rows if r["variant"] == variant]
        if not rs:
            continue
        modes, kl = [r["modes"] for r in rs], [r["kl"] for r in rs]
        steps = sorted({r["steps"] for r in rs})
        short = (
            ""
            if all(r["steps"] == r["steps_asked"] for r in rs)
            else f" (cut by the wall cap; asked {rs[0]['steps_asked']})"
        )
        steps_txt = f"{steps[0]}" if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
        lines.append(
            f"| {variant} | {len(rs)} | {statistics.mean(modes):.1f} ({min(modes)}-{max(modes)}) | "
            f"{statistics.mean(kl):.2f} ({min(kl):.2f}-{max(kl):.2f}) | {steps_txt}{short} | "
            f"{statistics.mean(r['train_s'] for r in rs):.0f} | {published.get(variant, '')} |"
        )
    return "\n".join(lines)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=4000, help="G steps per run, the same for every variant")
    p.add_argument(
        "--batch-size", type=int, default=96, help="divisible by 2, 3 and 4 (packing) and 4 (mbstd)"
    )
    p.add_argument("--width", type=int, default=64, help="DCGAN width (ndf = ngf)")
    p.add_argument(
        "--d-width",
        type=int,
        default=0,
        help="D's first-layer channels (0: --width); PacGAN table 3 shrinks D to 1/4 or 1/2 of G: "
        "--d-width 16 or 32 with --width 64",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers", type=int, default=0, help="parallel runs (0: all, at most 18, on cuda; 1 on cpu)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument(
        "--wall-budget",
        type=float,
        default=330.0,
        help="seconds for the whole benchmark (default 330, an H100 loan's share; 0: none)",
    )
    p.add_argument(
        "--n-samples", type=int, default=26000, help="samples whose modes are counted (PacGAN 26,000)"
    )
    p.add_argument(
        "--n-eval", type=int, default=1000, help="samples of the run's own last evaluation (fid_lenet)"
    )
    p.add_argument("--data-size", type=int, default=128000, help="stacked training images (PacGAN 128,000)")
    p.add_argument("--limit", type=int, default=0, help="MNIST digits used per split (0: all)")
    p.add_argument(
        "--data-dir", default=None, help="folder holding mnist/ (default: $GANKIT_DATA, ../shared/data)"
    )
    p.add_argument("--out", default="benchmarks/out/stacked_mnist")
    p.add_argument("--work", default=None, help="run folders and per-run logs (default: --out)")
    p.add_argument("--tiny", action="store_true", help="a minute-long CPU check of the whole pipeline")
    p.add_argument("--one", nargs=2, metavar=("VARIANT", "SEED"), help=argparse.SUPPRESS)
    p.add_argument("--row", help=argparse.SUPPRESS)
    p.add_argument("--run-cap-s", type=float, default=0.0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.tiny:
        a.steps, a.width, a.batch_size, a.n_samples, a.n_eval = 3, 8, 12, 600, 64
        a.d_width = a.d_width and 2  # a small D stays smaller than G
        a.data_size, a.limit, a.seeds, a.wall_budget = 600, 600, [0], 0.0
    if not a.workers:
        a.workers = min(18, len(a.seeds) * len(a.variants)) if a.device.startswith("cuda") else 1
    return a


def main(argv=None) -> int:
    a = parse(argv)
    if a.one:
        row = run_one(a.one[0], int(a.one[1]), a)
        Path(a.row).write_text(json.dumps(row) + "\n")
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = [(v, s) for s in a.seeds for v in a.variants]  # seeds outermost: a cut budget keeps every variant
    rows = schedule(runs, a)
    settings = {k: v for k, v in vars(a).items() if k not in ("one", "row", "run_cap_s")}
    settings["total_wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "results.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=1) + "\n")
    text = table(rows, narrow_d=0 < a.d_width < a.width)
    (out / "table.md").write_text(text + "\n")
    print(text)
    print(f"total wall time {settings['total_wall_s']:.0f} s; results in {out}")
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
