"""`--device auto|cpu|cuda[:N]`: CUDA when present and asked for, CPU otherwise."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from bench.errors import BenchError


def no_nvidia_driver() -> bool:
    """True when this is Linux without the NVIDIA driver loaded: CUDA is then certainly absent,
    and `auto` needs no torch import (seconds) to say so."""
    import os
    import sys

    return sys.platform == "linux" and not os.path.exists("/proc/driver/nvidia/version") and not os.path.exists("/dev/nvidia0")


def resolve_device(device: str) -> str:
    if device == "cpu" or (device == "auto" and no_nvidia_driver()):
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BenchError(f"--device {device}: CUDA is not available on this machine (use --device auto or cpu)")
        return device
    raise BenchError(f"--device '{device}': choose auto, cpu or cuda[:N]")


@contextmanager
def one_thread():
    """Torch on one thread for the block, the count restored after. Why: torch's CPU sums split
    by the thread count, so learned-codec pixels and task predictions must be computed on a
    fixed count to come out the same in every process (`codecs/learned/coding.py`, `tasks/batches.py`)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# -- the thread policy of a run: what the main process may use beside its cell workers ----------

def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


@contextmanager
def cores_left_to_main(busy: int):
    """While `busy` cores of this machine run cell workers, this process's torch (the tasks
    scoring a finished group) uses the cores left, at least one; restored afterwards. Yields
    the thread count it set (None: left alone). The runner asks per group, so once the workers
    run dry the scoring gets every core back.

    Why: with the default of 2 threads, scoring beside 2 one-thread workers put 4 threads on
    2 cores (an OpenMP team whose threads wait for a descheduled one: measured 4.5x slower);
    but pinned to 1 thread for the whole run, the scoring left in the queue after the last cell
    (most of the default job) ran on one core of two."""
    if busy <= 0:
        yield None
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, available_cores() - busy)))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
