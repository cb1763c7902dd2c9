"""Throughput: gankit's training step against the straightforward hand-written PyTorch loop,
per model, on CPU or GPU, measured in the same process (issue 7).

For every model the straightforward loop trains deep copies of the very networks gankit built
(same architecture, same initial weights) with the textbook code: plain ``torch.optim.Adam``
(with gankit's learning rates and betas), losses written inline, the generator's forward
computed once per step and reused detached for D, ``zero_grad`` / ``backward`` / ``step``:

- mlp, dcgan32, dcgan64: the non-saturating loss (BCE on logits), the PyTorch DCGAN example.
- progan (at its largest resolution, faded in): WGAN-GP (lambda 10) plus drift 0.001 D(x)^2,
  one critic step, and the generator EMA update gankit does too.
- cyclegan: LSGAN, cycle L1 x10, identity L1 x5, G step then the D step on the same fakes.

gankit's side is ``Trainer.train_step`` for the same config. Repeats alternate the two loops;
the table gives the median images per second (wall clock, synchronized on GPU; on CPU also per
CPU second of the process, robust on a shared machine) and the ratio gankit / straightforward.

For each model it also reports the FLOPs of one gankit step (PyTorch's per-operation FLOP
formulas: matrix products and convolutions, forward and backward), the FLOP-bound floor (those
FLOPs at the measured dense matrix-product rate of the device, precision and thread count) and
the fraction of that floor reached by each loop. ``--gpu-floors`` instead counts the FLOPs of
the GPU configurations on the CPU and states their floor at a given GPU rate (default: the TF32
rate measured on an H100), for models not yet run on a GPU. On a GPU it also reports the share
of wall time spent in GPU kernels for DCGAN 64 at batch 256 (``torch.profiler``); and, with ``--compile`` / ``--precision``, the same step
compiled or under autocast.

    OMP_NUM_THREADS=1 python benchmarks/throughput.py --device cpu --data-dir ../shared/data
    python benchmarks/throughput.py --device cuda --data-dir .data --out $OUT
    python benchmarks/throughput.py --gpu-floors --models progan,cyclegan
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.config import Config  # noqa: E402
from gankit.data.images import to_float  # noqa: E402
from gankit.training.trainer import Trainer  # noqa: E402


def model_configs(device: str) -> dict[str, dict]:
    """The benchmarked configurations; GPU runs use larger batches and ProGAN at 128 px."""
    gpu = device == "cuda"
    big = 256 if gpu else 64
    mnist = dict(data="mnist", data_args={"limit": 8192})
    return {
        "mlp": dict(
            **mnist, model="mlp", loss="ns", batch_size=64, model_args={"width": 128, "depth": 1}, loop="ns"
        ),
        **{
            f"dcgan{size}": dict(
                data="mnist",
                data_args={"limit": 8192, "image_size": size},
                model="dcgan",
                loss="ns",
                batch_size=big,
                loop="ns",
            )
            for size in (32, 64)
        },
        "progan": dict(
            data="mnist",
            data_args={"limit": 4096, "image_size": 128 if gpu else 32},
            recipe="progressive",
            recipe_args={"start_res": 128 if gpu else 32},
            batch_size=64 if gpu else 16,
            loop="progan",
        ),
        "cyclegan": dict(
            data="mnist2inverted",
            data_args={"limit": 4096},
            recipe="cyclegan",
            batch_size=16 if gpu else 4,
            loop="cyclegan",
        ),
    }


def adam(params, cfg, lr):
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas))


def ns_loop(trainer: Trainer):
    """The PyTorch DCGAN example's step on copies of gankit's G and D."""
    cfg, dev = trainer.cfg, trainer.device
    G, D = copy.deepcopy(trainer.recipe.G), copy.deepcopy(trainer.recipe.D)
    opt_g, opt_d = adam(G.parameters(), cfg, cfg.lr_g), adam(D.parameters(), cfg, cfg.lr_d)
    x_all = to_float(trainer.dataset.train_x).to(dev)
    n, b = cfg.batch_size, x_all.shape[0]
    ones, zeros = torch.ones(n, device=dev), torch.zeros(n, device=dev)
    z_dim = G.z_dim

    def step():
        real = x_all[torch.randint(b, (n,), device=dev)]
        fake = G(torch.randn(n, z_dim, device=dev))
        opt_d.zero_grad()
        loss_d = F.binary_cross_entropy_with_logits(D(real).view(-1), ones)
        loss_d = loss_d + F.binary_cross_entropy_with_logits(D(fake.detach()).view(-1), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        F.binary_cross_entropy_with_logits(D(fake).view(-1), ones).backward()
        opt_g.step()

    return step


def progan_loop(trainer: Trainer):
    """WGAN-GP + drift at the final resolution, with the generator EMA, written out."""
    cfg, dev = trainer.cfg, trainer.device
    G, D = copy.deepcopy(trainer.recipe.G), copy.deepcopy(trainer.recipe.D)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    opt_g, opt_d = adam(G.parameters(), cfg, cfg.lr_g), adam(D.parameters(), cfg, cfg.lr_d)
    x_all = to_float(trainer.dataset.train_x).to(dev)
    n, b = cfg.batch_size, x_all.shape[0]
    decay = cfg.ema or 0.999

    def step():
        for _ in range(cfg.n_critic):
            real = x_all[torch.randint(b, (n,), device=dev)]
            with torch.no_grad():
                fake = G(torch.randn(n, G.z_dim, device=dev))
            opt_d.zero_grad()
            d_real, d_fake = D(real), D(fake)
            eps = torch.rand(n, 1, 1, 1, device=dev)
            mix = torch.lerp(real, fake, eps).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(mix).sum(), mix, create_graph=True)
            gp = (grad.flatten(1).norm(dim=1) - 1).square().mean()
            loss_d = d_fake.mean() - d_real.mean() + 10 * gp + 0.001 * d_real.square().mean()
            loss_d.backward()
            opt_d.step()
        opt_g.zero_grad()
        (-D(G(torch.randn(n, G.z_dim, device=dev))).mean()).backward()
        opt_g.step()
        with torch.no_grad():
            for e, p in zip(G_ema.parameters(), G.parameters()):
                e.lerp_(p, 1 - decay)

    return step


def cyclegan_loop(trainer: Trainer):
    """The CycleGAN step written out: LSGAN, cycle and identity L1, G then D."""
    cfg, dev = trainer.cfg, trainer.device
    G, D = copy.deepcopy(trainer.recipe.G), copy.deepcopy(trainer.recipe.D)
    opt_g, opt_d = adam(G.parameters(), cfg, cfg.lr_g), adam(D.parameters(), cfg, cfg.lr_d)
    ds = trainer.dataset
    a_all, b_all = to_float(ds.train_a).to(dev), to_float(ds.train_b).to(dev)
    n = cfg.batch_size

    def step():
        a = a_all[torch.randint(a_all.shape[0], (n,), device=dev)]
        b = b_all[torch.randint(b_all.shape[0], (n,), device=dev)]
        opt_g.zero_grad()
        fake_b, fake_a = G.ab(a), G.ba(b)
        gan = (D.ab(fake_b) - 1).square().mean() + (D.ba(fake_a) - 1).square().mean()
        cycle = (G.ba(fake_b) - a).abs().mean() + (G.ab(fake_a) - b).abs().mean()
        idt = (G.ab(b) - b).abs().mean() + (G.ba(a) - a).abs().mean()
        (gan + 10 * cycle + 5 * idt).backward()
        opt_g.step()
        opt_d.zero_grad()
        loss_d = 0
        for d, real, fake in ((D.ab, b, fake_b), (D.ba, a, fake_a)):
            loss_d = loss_d + 0.5 * ((d(real) - 1).square().mean() + d(fake.detach()).square().mean())
        loss_d.backward()
        opt_d.step()

    return step


LOOPS = {"ns": ns_loop, "progan": progan_loop, "cyclegan": cyclegan_loop}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step, steps: int, batch: int, device: torch.device) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process)."""
    sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0), steps * batch / max(time.process_time() - c0, 1e-9)


class OpCount(TorchDispatchMode):
    """The ATen operations dispatched while active: how many of each (by name) and their FLOPs
    by PyTorch's own per-operation formulas (``torch.utils.flop_counter``: matrix products and
    convolutions, forward and backward). ``FlopCounterMode`` itself tracks modules with backward
    hooks that ``autograd.grad`` (the gradient penalty) does not support."""

    def __init__(self):
        super().__init__()
        self.counts: collections.Counter = collections.Counter()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.counts[func.overloadpacket.__name__] += 1
        formula = flop_registry.get(func.overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def step_flops(step) -> int:
    """FLOPs of one call of ``step`` (matrix products and convolutions, forward and backward)."""
    with OpCount() as counter:
        step()
    return counter.flops


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int) -> float:
    """Dense matrix-product FLOP/s at ``dtype`` (median of 10 timed products after warm-up)."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    times = []
    for i in range(13):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times)


def kernel_seconds(step, steps: int, device: torch.device) -> tuple[float, float]:
    """(GPU kernel seconds per step, share of the profiled wall time in kernels) over ``steps``.

    The profiler's own host overhead slows the profiled steps, so the share that matters is the
    kernel time per step over the unprofiled step time (computed by the caller)."""
    from torch.profiler import ProfilerActivity, profile

    sync(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], acc_events=True) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        wall = time.perf_counter() - t0
    # kernels run one at a time on the default stream: their summed durations are busy time
    busy_us = sum(e.device_time for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    return busy_us * 1e-6 / steps, busy_us * 1e-6 / wall


def build_trainer(name: str, spec: dict, a, **overrides) -> Trainer:
    kw = dict(
        data_dir=a.data_dir, steps=1, out=f"/tmp/gankit-throughput/{name}", progress="none", device=a.device
    )
    kw.update({k: v for k, v in spec.items() if k != "loop"}, **overrides)
    return Trainer(Config(**kw))


def gpu_floors(a) -> None:
    """FLOPs per gankit step of the GPU configurations (counted on the CPU: the count does not
    depend on the device) and their floor at ``a.gpu_tflops``."""
    specs = model_configs("cuda")
    print("| model | batch | image size | GFLOP per step | floor at the GPU rate (ms) |")
    print("|---|---|---|---|---|")
    for name in a.models.split(","):
        spec = specs[name]
        trainer = build_trainer(name, spec, a, device="cpu")
        flops = step_flops(trainer.train_step)
        size = trainer.dataset.sample_shape[-1]
        floor_ms = 1000 * flops / (1e12 * a.gpu_tflops)
        print(f"| {name} | {spec['batch_size']} | {size} | {flops / 1e9:.1f} | {floor_ms:.2f} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--models", default="mlp,dcgan32,dcgan64,progan,cyclegan")
    p.add_argument("--steps", type=int, default=0, help="steps per repeat (0: 20 on CPU, 50 on GPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs)")
    p.add_argument("--compile", action="store_true", help="also time gankit with --compile (GPU)")
    p.add_argument("--precision", default="", help="also time gankit at these precisions, e.g. bf16,fp16")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--tag", default="", help="suffix of the result file's name")
    p.add_argument(
        "--gpu-floors",
        action="store_true",
        help="count the GPU configurations' FLOPs on the CPU and state their floor at --gpu-tflops",
    )
    p.add_argument(
        "--gpu-tflops",
        type=float,
        default=385.6,
        help="GPU dense rate for --gpu-floors (default: TF32 matrix products measured on an H100)",
    )
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    gpu = dev.type == "cuda"
    if gpu:
        torch.backends.cudnn.benchmark = True  # both loops: the fastest convolution algorithms
    steps = a.steps or (50 if gpu else 20)
    specs = model_configs(a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"throughput_{a.device}{a.tag and '_' + a.tag}.json"
    result = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "torch": torch.__version__,
        "models": {},
    }
    if a.gpu_floors:
        gpu_floors(a)
        return
    if not gpu:
        result["matmul_tflops"] = {"fp32": matmul_rate(dev, torch.float32, 2048) / 1e12}
        print(
            f"dense fp32 matrix product, {a.threads} thread(s): {1000 * result['matmul_tflops']['fp32']:.1f} GFLOP/s"
        )
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        result["matmul_tflops"] = {
            "fp32": matmul_rate(dev, torch.float32, 8192) / 1e12,
            "bf16": matmul_rate(dev, torch.bfloat16, 8192) / 1e12,
        }
        torch.backends.cuda.matmul.allow_tf32 = True
        result["matmul_tflops"]["tf32"] = matmul_rate(dev, torch.float32, 8192) / 1e12
        torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default for matrix products
        print("dense matrix product TFLOP/s:", {k: round(v, 1) for k, v in result["matmul_tflops"].items()})
    for name in a.models.split(","):
        spec = specs[name]
        trainer = build_trainer(name, spec, a)
        batch = trainer.cfg.batch_size
        loops = {"straightforward": LOOPS[spec["loop"]](trainer), "gankit": lambda t=trainer: t.train_step()}
        variants = {}
        if gpu and a.compile:
            variants["gankit+compile"] = build_trainer(name, spec, a, compile=True)
        for prec in filter(None, a.precision.split(",")):
            variants[f"gankit+{prec}"] = build_trainer(name, spec, a, precision=prec)
        for label, t in variants.items():
            loops[label] = lambda t=t: t.train_step()
        for label, fn in loops.items():  # warm-up (compilation, cuDNN autotuning)
            t0 = time.perf_counter()
            rate(fn, 3 if gpu else 2, batch, dev)
            if label.endswith("compile"):
                result.setdefault("compile_warmup_s", {})[name] = time.perf_counter() - t0
        rates = {label: [] for label in loops}
        for _ in range(a.repeats):
            for label, fn in loops.items():
                rates[label].append(rate(fn, steps, batch, dev))
        med = {k: [statistics.median(r[i] for r in v) for i in (0, 1)] for k, v in rates.items()}
        entry = {
            "batch_size": batch,
            "image_shape": list(trainer.dataset.sample_shape),
            "steps": steps,
            "repeats": a.repeats,
            "median_images_per_s_wall_cpu": med,
            "ratio_wall": med["gankit"][0] / med["straightforward"][0],
            "ratio_cpu": med["gankit"][1] / med["straightforward"][1],
        }
        flops = step_flops(loops["gankit"])
        entry["flops_per_step"] = flops
        if not gpu:
            floor = flops / (1e12 * result["matmul_tflops"]["fp32"])
            entry["floor_s"] = floor
            entry["floor_fraction_cpu"] = {label: floor * med[label][1] / batch for label in med}
        else:
            # FLOP-bound floor: convolutions run as TF32 (cuDNN's default), matrix products as
            # fp32 (PyTorch's default), so the floor lies between the two rates; bf16 for autocast.
            for label, fn in loops.items():
                if "compile" in label:
                    continue
                step_s = batch / med[label][0]
                kern_s, profiled_share = kernel_seconds(fn, 20, dev)
                rates_ = result["matmul_tflops"]
                floor = flops / (1e12 * (rates_["bf16"] if "bf16" in label else rates_["tf32"]))
                entry.setdefault("gpu", {})[label] = {
                    "step_s": step_s,
                    "kernel_s_per_step": kern_s,
                    "kernel_share": kern_s / step_s,
                    "kernel_share_profiled": profiled_share,
                    "floor_s": floor,
                    "floor_fraction": floor / step_s,
                    "floor_fraction_fp32": flops / (1e12 * rates_["fp32"]) / step_s,
                }
        result["models"][name] = entry
        print(name, json.dumps(entry, default=float), flush=True)
        path.write_text(json.dumps(result, indent=1, default=float))  # after each model
    col = 0 if gpu else 1
    if gpu:
        print(
            "\n| model | batch | loop | img/s | vs straightforward | ms/step | GPU kernel share "
            "| FLOP floor (TF32/bf16) fraction |"
        )
        print("|---|---|---|---|---|---|---|---|")
    else:
        print(
            "\n| model | batch | straightforward img/s | gankit img/s | gankit / straightforward "
            "| GFLOP per step | fraction of the fp32 floor: straightforward, gankit |"
        )
        print("|---|---|---|---|---|---|---|")
    for name, e in result["models"].items():
        m = e["median_images_per_s_wall_cpu"]
        base = m["straightforward"][col]
        if not gpu:
            frac = e["floor_fraction_cpu"]
            print(
                f"| {name} | {e['batch_size']} | {base:.0f} | {m['gankit'][col]:.0f} | {m['gankit'][col] / base:.2f} "
                f"| {e['flops_per_step'] / 1e9:.2f} | {100 * frac['straightforward']:.0f}%, {100 * frac['gankit']:.0f}% |"
            )
            continue
        for label in m:
            g = e["gpu"].get(label)
            share = f"{100 * g['kernel_share']:.0f}%" if g else "-"
            frac = f"{100 * g['floor_fraction']:.0f}%" if g else "-"
            print(
                f"| {name} | {e['batch_size']} | {label} | {m[label][0]:.0f} | {m[label][0] / base:.2f} "
                f"| {1000 * e['batch_size'] / m[label][0]:.2f} | {share} | {frac} |"
            )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
