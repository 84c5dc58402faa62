"""`--device auto|cpu|cuda[:N]`: CUDA when present and asked for, CPU otherwise."""

from __future__ import annotations

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
