"""Multi-process training on torch.distributed (launched by ``torchrun``).

gankit averages gradients itself, the way NVlabs' stylegan2-ada training loop does, instead of
wrapping networks in ``DistributedDataParallel``: a GAN step updates one player while the
other's weights are frozen, runs several forwards before a backward (the reused generator
pass), leaves parameters unused (ProGAN's future blocks) and takes double backwards
(gradient penalties) — all cases where the DDP wrapper needs ``find_unused_parameters`` or
breaks. One flat all-reduce per update of the gradients of the updated player (missing
gradients count as zero on every rank) gives exactly the gradient of the global batch's mean
loss, for every recipe alike. Backends: gloo on CPU, NCCL on CUDA; the environment variable
``GANKIT_DIST_BACKEND`` overrides the choice (e.g. gloo with CUDA tensors, which lets two
processes share one GPU in a test: NCCL refuses two ranks on the same device).

Batch norm statistics stay per process (document: use ``sync_bn=true`` for SyncBatchNorm).
"""

from __future__ import annotations

import atexit
import datetime
import os

import torch
import torch.distributed as dist

from gankit.errors import ConfigError

# Flags the host already knows (which parameters got a gradient, stop requests) are reduced as
# CPU tensors over a gloo group of their own, beside the default group (NCCL on GPUs): a CUDA
# flag tensor would be read back with ``.tolist()``, which makes the host wait for the GPU. The
# group exists under every backend, so CPU runs and tests take the same path as GPU runs.
_host_group = None


def host_group():
    """The gloo process group for CPU tensors."""
    return _host_group


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def init_from_env(device: str = "auto") -> tuple[int, int, str]:
    """Join the process group torchrun described; returns (rank, world_size, device name)."""
    rank, world, local = env_world()
    if world == 1:
        return 0, 1, device
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda") or device.startswith("cuda")
    if use_cuda:
        if local >= torch.cuda.device_count() and os.environ.get("GANKIT_DIST_BACKEND") != "gloo":
            raise ConfigError(
                f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} GPU(s); "
                "use --nproc_per_node at most the GPU count"
            )
        local %= torch.cuda.device_count()  # gloo test mode only: ranks may share a GPU
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not initialized():
        backend = os.environ.get("GANKIT_DIST_BACKEND") or ("nccl" if use_cuda else "gloo")
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        # A group still alive when the interpreter finalizes lets gloo's worker threads touch
        # Python objects mid-teardown: the process dies of SIGABRT ("terminate called without
        # an active exception") after its work is done. Tear it down while Python is alive.
        atexit.register(destroy)
    global _host_group
    if _host_group is None:  # also when the caller joined the group itself
        _host_group = dist.new_group(backend="gloo")  # every rank runs this, as it must
    return rank, world, device


def world_size() -> int:
    return dist.get_world_size() if initialized() else 1


def all_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of ``t`` over processes (identity in a single process). Used for state that must be
    identical on every rank, e.g. BEGAN's k update."""
    if not initialized() or dist.get_world_size() == 1:
        return t
    t = t.detach().clone()
    dist.all_reduce(t)
    return t / dist.get_world_size()


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average ``params``' gradients over processes in one flat all-reduce.

    A parameter that got no gradient on any rank keeps ``grad=None`` (so optimizers skip it
    exactly as in a single process); one that got a gradient on some ranks counts zero on the
    others.
    """
    if not initialized() or dist.get_world_size() == 1 or not params:
        return
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32)  # (P,) on the CPU
    dist.all_reduce(has, op=dist.ReduceOp.MAX, group=host_group())
    used = [p for p, h in zip(params, has.tolist()) if h > 0]
    if not used:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in used])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in used:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def any_flags(*flags: bool) -> list[bool]:
    """Each flag true on any rank -> true on every rank (one small all-reduce)."""
    if not initialized() or dist.get_world_size() == 1:
        return list(flags)
    t = torch.tensor([float(f) for f in flags])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=host_group())
    return [bool(v) for v in t.tolist()]


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not initialized() or dist.get_world_size() == 1:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def gather_objects(obj):
    """Every rank's ``obj`` as a list on every rank (for per-rank RNG states in checkpoints)."""
    if not initialized() or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def check_resume_world(saved: int, now: int, allow: bool) -> None:
    if saved != now and not allow:
        raise ConfigError(
            f"this run was trained with {saved} process(es) and is resumed with {now}; the data "
            "shards and random streams would change. Resume with the same --nproc_per_node, or "
            "pass --set allow_world_size_change=true to continue anyway (not bit-exact)"
        )


def barrier() -> None:
    if initialized() and dist.get_world_size() > 1:
        dist.barrier()


def destroy() -> None:
    """Leave the process group (no-op outside one or when already left)."""
    global _host_group
    if initialized():
        dist.destroy_process_group()  # every group, the host group included
    _host_group = None


def finish() -> None:
    """End of a successful multi-process command: wait until every rank is done (so no rank
    closes its connections while another still talks to it), then leave the group."""
    barrier()
    destroy()
