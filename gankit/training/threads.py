"""CPU threads per training process: fastest for the model, and never more than the cores left.

The rule (``choose_threads``):

- ``--threads N`` (N >= 1) is used as given.
- Otherwise the model's work decides what it wants (``wanted``): a convolutional network, or an
  MLP whose largest layer does at least ``PARALLEL_MACS`` multiply-adds per batch, gets every
  core this process may run on; a smaller MLP gets 1, since a second thread's synchronization
  costs more than it saves there. Measured on the idle 2-core machine
  (benchmarks/results/threads_mlp_*.json, ms per step at 1 / 2 threads): the toy defaults
  (3 x 256, batch 256) 23.0 / 16.9 (grid, rpgan) and 17.9 / 11.3 (ring, ns); the seed article's
  MLP (784-128, batch 64) 2.85 / 2.26; width 128 at batch 128 3.90 / 3.28; width 64 at batch 64
  2.09 / 2.15 and width 32 at batch 256 2.17 / 2.25 (one thread is faster).
- The cores are shared: a new trainer takes at most the cores left free, and at least 1. Busy
  cores are the larger of what the other running gankit trainers registered (each leaves an
  advisory file ``<tmp>/gankit-trainers/<pid>`` holding its thread count; files of processes
  that are gone are ignored and removed) and the CPU time spent in the last quarter second by
  any program (Linux ``/proc/stat``; the 1-minute load average elsewhere, which lags: a core
  freed a few seconds ago still counts as busy there).
  Oversubscribed threads spin and wait: measured on a loaded 2-core machine, the toy MLP took
  11x longer per step at 2 threads than at 1 (benchmarks/results/threads_mlp.json).
- Under torchrun the ranks on one machine share its free cores (``share`` = LOCAL_WORLD_SIZE),
  and every rank takes the smallest count any rank chose (``agree``): ranks sampling the load
  at slightly different moments would otherwise differ, and another thread count changes float
  sums, so the ranks' weights would drift apart.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

# Multiply-adds of a network's largest layer over one batch from which a second thread pays
# (see the measurements above: 262k lose, 2.1M and more win).
PARALLEL_MACS = 1 << 21


def wanted(module, batch_size: int, cores: int) -> int:
    """Threads a model wants: ``cores`` for a convolutional network or a large enough MLP, else 1.
    ``module``: every network of the run (a recipe is one ``nn.Module``)."""
    from torch import nn

    largest = 0
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return cores
        if isinstance(m, nn.Linear):
            largest = max(largest, m.in_features * m.out_features)
    return cores if largest * batch_size >= PARALLEL_MACS else 1


def allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on (its affinity mask); None where that is unknown."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def available_cores() -> int:
    """Cores this process may run on (its affinity mask; the CPU count elsewhere)."""
    cpus = allowed_cpus()
    return max(1, len(cpus) if cpus is not None else os.cpu_count() or 1)


def choose_threads(want: int, cores: int, taken_by_others: int, explicit: int = 0, share: int = 1) -> int:
    """Threads for a trainer that wants ``want`` (``wanted``) with ``cores`` cores of which
    ``taken_by_others`` are busy, the free ones shared by ``share`` processes of one job
    (torchrun's ranks on this machine); ``explicit`` (>= 1) wins."""
    if explicit >= 1:
        return explicit
    return max(1, min(want, (cores - taken_by_others) // max(1, share)))


def registry_dir() -> Path:
    return Path(os.environ.get("GANKIT_TRAINERS_DIR", tempfile.gettempdir())) / "gankit-trainers"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def threads_of_others(folder: Path | None = None) -> int:
    """Sum of the thread counts the other running trainers registered."""
    folder = folder or registry_dir()
    total = 0
    with contextlib.suppress(OSError):
        for f in folder.iterdir():
            if not f.name.isdigit() or int(f.name) == os.getpid():
                continue
            if not _alive(int(f.name)):
                with contextlib.suppress(OSError):
                    f.unlink()
                continue
            with contextlib.suppress(OSError, ValueError):
                total += max(0, int(f.read_text().strip() or 0))
    return total


def _cpu_times(stat: Path, cpus: set[int] | None = None) -> tuple[int, int, int]:
    """(busy jiffies, all jiffies, CPU count) over the per-CPU lines of ``/proc/stat`` for
    ``cpus`` (None: all), so a process limited to some CPUs of a larger host sees their load."""
    busy = total = count = 0
    for line in stat.read_text().splitlines():
        m = re.match(r"cpu(\d+) ", line)
        if not m or (cpus is not None and int(m.group(1)) not in cpus):
            continue
        fields = [int(v) for v in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
        total += sum(fields)
        busy += sum(fields) - fields[3] - fields[4]
        count += 1
    if not count:
        raise ValueError(f"{stat}: no per-CPU lines")
    return busy, total, count


def cpu_load(sample_s: float = 0.25, stat: Path = Path("/proc/stat")) -> float:
    """Cores kept busy right now by every program, on the CPUs this process may use: the busy
    share of their time over ``sample_s`` seconds times their count; the 1-minute load average
    where ``/proc/stat`` is missing (not Linux)."""
    cpus = allowed_cpus()
    try:
        busy0, all0, n = _cpu_times(stat, cpus)
        time.sleep(sample_s)
        busy1, all1, _ = _cpu_times(stat, cpus)
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0
    return n * (busy1 - busy0) / max(1, all1 - all0)


def busy_cores(folder: Path | None = None, load: float | None = None) -> int:
    """Cores in use by others: the other trainers' threads, or the CPU load of other programs if
    higher (rounded: a core counts as busy when more than half used); ``load`` None: sampled now
    (``cpu_load``)."""
    return max(threads_of_others(folder), round(cpu_load() if load is None else load))


@contextlib.contextmanager
def claimed(want: int, explicit: int = 0, folder: Path | None = None, share: int = 1, agree=None):
    """Set torch's thread count by the rule for a trainer that wants ``want`` threads,
    registered for the duration; yields the count. ``share``: processes of this job on this
    machine; ``agree``: maps this process's count to the one every process of the job uses
    (under torchrun: the smallest)."""
    import torch

    folder = folder or registry_dir()
    mine = folder / str(os.getpid())
    # the load only matters to a model that wants more than one thread (a sample takes 0.25 s)
    measure = explicit < 1 and want > 1
    if measure:  # one thread claimed while measuring: two trainers starting together see each other
        _register(mine, 1)
    n = choose_threads(want, available_cores(), busy_cores(folder) if measure else 0, explicit, share)
    if agree is not None:
        n = int(agree(n))
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    _register(mine, n)
    try:
        yield n
    finally:
        with contextlib.suppress(OSError):
            mine.unlink()
        torch.set_num_threads(before)


def _register(mine: Path, n: int) -> None:
    with contextlib.suppress(OSError):
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text(str(n))


def claimed_by_job(want: int, explicit: int, world_size: int):
    """``claimed`` for one process of a job of ``world_size`` processes: under torchrun the
    ranks on this machine (LOCAL_WORLD_SIZE) share its free cores and use the smallest count
    any rank chose (a collective call: every rank enters it)."""
    if world_size <= 1:
        return claimed(want, explicit)
    from gankit.training import distributed

    share = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    return claimed(want, explicit, share=share, agree=lambda n: min(distributed.gather_objects(n)))


REBALANCE_S = 5.0  # how often a running trainer looks again (a directory listing, /proc/stat)


class Sharing:
    """A running trainer's threads, kept within the cores the others leave: a trainer that took
    both cores of an idle machine gives one back when a second gankit trainer starts (that one
    found both taken and took 1) or another program keeps a core busy, and takes it again when
    the core is free. Every ``REBALANCE_S`` seconds it reads the registry and the CPU time spent
    since its last look by every program but this process (``/proc/stat`` less this process's
    own CPU time; the registry only where that file is missing). A change is said in one line
    (``say``), and with ``flush`` denormals are flushed in the new threads too (denormals.py).

    Used only where the count is gankit's choice (no ``--threads``) in a single process. An MLP's
    numbers do not depend on the count (1 and 2 threads gave bit-identical weights after 30 toy
    steps, tests/test_threads.py); a convnet's float sums may, so a convnet that changes its count
    mid-run is reproducible only under the same conditions, as its first choice already was."""

    def __init__(self, want: int, current: int, flush: bool = False, say=None, folder: Path | None = None):
        self.want, self.current, self.flush, self.say = want, current, flush, say
        self.folder = folder or registry_dir()
        self.next_check = time.perf_counter() + REBALANCE_S
        self.last = self._sample()

    @staticmethod
    def _sample() -> tuple[int, int, int, float] | None:
        """(busy jiffies, all jiffies, CPUs, this process's CPU seconds), or None off Linux."""
        try:
            busy, total, n = _cpu_times(Path("/proc/stat"), allowed_cpus())
        except (OSError, ValueError, IndexError):
            return None
        t = os.times()
        return busy, total, n, t.user + t.system

    def others_load(self) -> float:
        """Cores kept busy by other programs since the last look (0 where unknown)."""
        now = self._sample()
        before, self.last = self.last, now
        if now is None or before is None or now[1] <= before[1]:
            return 0.0
        n, elapsed_s = now[2], (now[1] - before[1]) / now[2] / os.sysconf("SC_CLK_TCK")
        all_busy = n * (now[0] - before[0]) / (now[1] - before[1])
        return max(0.0, all_busy - (now[3] - before[3]) / max(elapsed_s, 1e-9))

    def poll(self, now: float, step: int = 0) -> int:
        """The count to use after ``step`` (looked at every ``REBALANCE_S`` seconds)."""
        if now < self.next_check:
            return self.current
        self.next_check = now + REBALANCE_S
        n = choose_threads(self.want, available_cores(), busy_cores(self.folder, self.others_load()))
        if n != self.current:
            import torch

            torch.set_num_threads(n)
            _register(self.folder / str(os.getpid()), n)
            self.current = n
            if self.flush:
                from gankit.training import denormals

                denormals.set_flush_denormal(True)
            if self.say is not None:
                why = "other programs use the rest" if n < self.want else "the cores it wants are free again"
                self.say(f"CPU threads: {n} after step {step} ({why})")
        return self.current
