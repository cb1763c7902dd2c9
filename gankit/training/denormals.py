"""Flushing denormal floats to zero in every thread that computes, not only the calling one.

Denormal floats (weights and Adam moments decaying towards 0) make CPU kernels several times
slower, so ``Trainer.fit`` flushes them to zero on the CPU. ``torch.set_flush_denormal`` sets
the flush-to-zero and denormals-are-zero bits of the *calling* thread's floating-point control
register only. PyTorch's intra-op threads (OpenMP, shared with MKL and oneDNN) keep the bits they
inherited from the thread that started them: if the pool started before ``fit`` turned flushing
on (resuming loads a checkpoint first; a notebook has usually run something), the worker
threads keep their denormals while the calling thread flushes. Fused Adam splits every parameter
between the threads, so the same update then flushes one part of a tensor and not the other,
and a resumed run parted from the uninterrupted one by a few values below 1.2e-38 in the
optimizer's moments, and from there on everywhere.

``set_flush_denormal(on)`` here copies the calling thread's floating-point environment (after
``torch.set_flush_denormal``) to every thread of the OpenMP pool, by running the C library's
``fesetenv`` as the body of one OpenMP parallel region, and then checks on a tensor large enough
to be split between all the threads that every part flushes (or keeps) denormals as asked. Where
that cannot be done or checked, nothing flushes: a slower run, but the same numbers whenever
it runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import torch

_TINY = 1e-30  # times 1e-10 gives 1e-40, a denormal float32


@functools.cache
def _openmp_env_sync():
    """``sync(n)``: give the n threads of the calling thread's OpenMP team the calling thread's
    floating-point environment; None where the C functions are not found."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
        candidates = sorted((Path(torch.__file__).parent / "lib").glob("libgomp*.so*"))
        omp = ctypes.CDLL(str(candidates[0])) if candidates else ctypes.CDLL(None)
        parallel = omp.GOMP_parallel  # void GOMP_parallel(void (*fn)(void *), void *data, unsigned, unsigned)
        fegetenv, fesetenv = libm.fegetenv, libm.fesetenv
    except (OSError, AttributeError, TypeError):
        return None
    parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    parallel.restype = None
    body = ctypes.cast(fesetenv, ctypes.c_void_p)  # int fesetenv(const fenv_t *): fn(data)

    def sync(n: int) -> bool:
        env = ctypes.create_string_buffer(1024)  # fenv_t is 32 bytes on x86-64, 8 on arm64
        if fegetenv(env) != 0:
            return False
        parallel(body, env, n, 0)
        return True

    return sync


def flushes_everywhere(on: bool) -> bool:
    """Whether every intra-op thread now flushes denormals (``on``) or keeps them (not ``on``):
    one multiply of a tensor that the threads split between them."""
    n = torch.get_num_threads()
    x = torch.full((n * 65536,), _TINY)
    flushed = (x * 1e-10) == 0  # (n * 65536,)
    return bool(flushed.all()) if on else not bool(flushed.any())


def set_flush_denormal(on: bool) -> bool:
    """``torch.set_flush_denormal(on)`` for the calling thread and every intra-op thread.
    Returns True when all of them now flush (``on``) or all keep denormals (not ``on``, the
    default); when flushing cannot be set and checked everywhere it is switched off again and
    False is returned."""
    ok = torch.set_flush_denormal(on)  # False on a CPU without the flags
    if ok and torch.get_num_threads() > 1:
        sync = _openmp_env_sync()
        ok = sync is not None and sync(torch.get_num_threads())
    ok = ok and flushes_everywhere(on)
    if not ok and on:
        set_flush_denormal(False)
    return ok
