"""Resumable training state: everything needed to continue exactly where a run was cut.

A session can be stopped at any moment (a 180-minute limit, a kill -9), so trainers save, every
few minutes, the model and optimiser states, the step, and the state of every random number
generator (Python, numpy, torch CPU and CUDA, and the trainer's own numpy Generator). Restoring
all of them makes the continued run draw the same batches as an uncut one. The file is written
to a temporary name and renamed, so a cut during the write leaves the previous state intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np


def capture_rng(generator: np.random.Generator | None = None) -> dict[str, Any]:
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.bit_generator.state
    return state


def restore_rng(state: dict[str, Any], generator: np.random.Generator | None = None) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.bit_generator.state = state["generator"]


def save_state(path: Path, blob: dict[str, Any]) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


# What a resume file holds besides tensors and plain Python: numpy's MT19937 state (a uint32
# array). Allowing exactly these lets it load with `weights_only=True`: no pickled code runs,
# even from a resume file someone else wrote.
NUMPY_STATE_GLOBALS = (np.core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32)))


def load_state(path: Path) -> dict[str, Any]:
    """The saved blob, read weights-only (tensors, plain Python and numpy's RNG state array)."""
    import torch

    with torch.serialization.safe_globals(list(NUMPY_STATE_GLOBALS)):
        return torch.load(Path(path), map_location="cpu", weights_only=True)
