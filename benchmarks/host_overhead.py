"""Host-side cost of a training step: what limits a small or fast model on a GPU, measured on
the CPU (issue 7).

On a GPU the host queues kernels while the device runs earlier ones; a step whose host work
(Python, dispatch, one launch per operation) outlasts its kernels leaves the GPU idle. Two
device-independent measures of that host work, for gankit's GPU code path (NaN/inf checks kept
on the device, step logs kept as device tensors; here run on the CPU) beside the straightforward
loop of ``benchmarks/throughput.py`` (with CUDA's default ``foreach`` Adam):

1. kernel-launching operations per step: every ATen operation dispatched in one step
   (``TorchDispatchMode``), less views and allocations, which launch nothing;
2. host time per step where compute is negligible: the same models at width 8 (MLP) or 1
   (DCGAN), batch 2, one thread; CPU time of the process per step, the two loops alternating,
   median of the per-repeat ratios.

The second measure predicted the launch-bound GPU case: before this script's changes it gave
0.84 for the MLP, where an H100 measured 0.86x of the straightforward loop's rate.

    OMP_NUM_THREADS=1 python benchmarks/host_overhead.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import throughput  # noqa: E402

from gankit.training import faults  # noqa: E402
from gankit.training.trainer import LogSums, Trainer  # noqa: E402

# Operations that launch no kernel on a GPU: views, metadata, allocations, scalar reads of
# CPU tensors, profiler markers.
NO_KERNEL = {
    "detach", "view", "t", "unsqueeze", "squeeze", "expand", "select", "slice", "alias",
    "as_strided", "reshape", "_unsafe_view", "permute", "transpose", "split", "split_with_sizes",
    "chunk", "unbind", "empty", "empty_strided", "new_empty", "new_empty_strided",
    "scalar_tensor", "_local_scalar_dense", "lift_fresh",
    "_record_function_enter_new", "_record_function_exit",
}  # fmt: skip


def gpu_path(trainer: Trainer):
    """gankit's step as on a GPU: deferred NaN/inf checks, logs kept as tensors and read every
    25 steps, as ``Trainer.fit`` does there."""
    trainer.deferred = faults.DeferredChecks(trainer.recipe.players, trainer.device)
    sums = LogSums(keep_tensors=True)

    def step():
        sums.add(trainer.train_step())
        if sums.count % 25 == 0:
            sums.means(("loss_d", "loss_g"))

    return step


def loops_for(name: str, spec: dict, args, **overrides) -> dict:
    trainer = throughput.build_trainer(name, spec, args, **overrides)
    return {"straightforward": throughput.LOOPS[spec["loop"]](trainer), "gankit": gpu_path(trainer)}


def count_kernels(fn) -> tuple[int, dict[str, int]]:
    """(kernel-launching operations, all operations by name) of one call of ``fn``."""
    fn()
    fn()  # warm: optimizer state, caches
    with throughput.OpCount() as mode:
        fn()
    return sum(n for op, n in mode.counts.items() if op not in NO_KERNEL), dict(mode.counts)


def host_us(loops: dict, steps: int, repeats: int) -> dict[str, list[float]]:
    times = {k: [] for k in loops}
    for fn in loops.values():
        fn()
    for _ in range(repeats):
        for label, fn in loops.items():
            c0 = time.process_time()
            for _ in range(steps):
                fn()
            times[label].append((time.process_time() - c0) / steps * 1e6)
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--models", default="mlp,dcgan32,dcgan64,progan,cyclegan")
    p.add_argument("--timed", default="mlp,dcgan32", help="models whose host time is measured")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "host_overhead.json"))
    a = p.parse_args()
    a.device = "cpu"
    torch.set_num_threads(1)
    # The straightforward loop with the Adam a CUDA run gets by default (foreach).
    throughput.adam = lambda params, cfg, lr: torch.optim.Adam(
        params, lr=lr, betas=tuple(cfg.betas), foreach=True
    )
    specs = throughput.model_configs("cuda")  # the GPU table's models (ProGAN at 128 px)
    result = {"torch": torch.__version__, "models": {}}
    for name in a.models.split(","):
        spec = specs[name]
        entry = {}
        for label, fn in loops_for(name, spec, a, batch_size=2).items():
            entry[f"kernels_{label}"], entry[f"ops_{label}"] = count_kernels(fn)
        if name in a.timed.split(","):
            tiny = {"width": 8, "depth": 1} if spec["model"] == "mlp" else {"width": 1}
            times = host_us(loops_for(name, spec, a, batch_size=2, model_args=tiny), a.steps, a.repeats)
            entry["host_us"] = {k: statistics.median(v) for k, v in times.items()}
            ratios = [s / g for s, g in zip(times["straightforward"], times["gankit"])]
            entry["speed_ratio"] = statistics.median(ratios)
            entry["speed_ratio_range"] = [min(ratios), max(ratios)]
        result["models"][name] = entry
        print(name, {k: v for k, v in entry.items() if not k.startswith("ops_")}, flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(
        "\n| model | kernel launches per step: straightforward | gankit | host us per step: "
        "straightforward | gankit | gankit speed / straightforward |"
    )
    print("|---|---|---|---|---|---|")
    for name, e in result["models"].items():
        h = e.get("host_us")
        timing = (
            f"{h['straightforward']:.0f} | {h['gankit']:.0f} | {e['speed_ratio']:.2f} "
            f"({e['speed_ratio_range'][0]:.2f}-{e['speed_ratio_range'][1]:.2f})"
            if h
            else "- | - | -"
        )
        print(f"| {name} | {e['kernels_straightforward']} | {e['kernels_gankit']} | {timing} |")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
