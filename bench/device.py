"""`--device auto|cpu|cuda[:N]`: CUDA when present and asked for, CPU otherwise."""

from __future__ import annotations

from bench.errors import BenchError


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BenchError(f"--device {device}: CUDA is not available on this machine (use --device auto or cpu)")
        return device
    raise BenchError(f"--device '{device}': choose auto, cpu or cuda[:N]")
