"""A segmentation network trained elsewhere: `--task seg:weights=FILE.safetensors`.

The file must hold the shipped U-Net's weights (`model.py`). A checkpoint written by
`bench train-task` carries its manifest, and is taken as it is, except that no dataset
fingerprint applies (the user vouches for what it was trained on). A bare state dict (e.g.
`safetensors.torch.save_file(unet.state_dict(), FILE)`) is read by its shapes: width from the
first convolution, classes from the head, coordinate planes from the first convolution's input
count against the data's channels. Either way its class count must equal the dataset's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.checkpoints import file_sha256, load_checkpoint_arrays
from bench.errors import BenchError

FIRST, HEAD = "enc.0.0.weight", "head.weight"


def load_user_weights(path: Path, dataset, task: str) -> tuple[dict, dict]:
    """(float32 arrays, manifest) of a user's U-Net file, checked against the dataset's classes."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise BenchError(f"task '{task}': {path}: give the U-Net's weights as a .safetensors file")
    state, manifest = _read(path, dataset, task)
    classes = list(dataset.seg_classes or [])
    if manifest["model"]["num_classes"] != len(classes):
        raise BenchError(f"task '{task}': {path} predicts {manifest['model']['num_classes']} classes, dataset "
                         f"'{dataset.name}' has {len(classes)} ({', '.join(classes)})")
    manifest.setdefault("seg_classes", classes)
    manifest["source"] = {"file": path.name, "sha256": file_sha256(path)}
    return state, manifest


def _read(path: Path, dataset, task: str) -> tuple[dict, dict]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as fh:
            metadata = fh.metadata() or {}
            state = {key: fh.get_tensor(key) for key in fh.keys()}
    except Exception as exc:
        raise BenchError(f"task '{task}': {path} is unreadable: {exc}".splitlines()[0]) from None
    if "manifest" in metadata:  # written by bench train-task: its manifest says what it is
        state, manifest = load_checkpoint_arrays(path, None)
        return state, manifest
    state = {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v for k, v in state.items()}
    return state, {"task": task, "model": _shapes(state, path, dataset, task)}


def _shapes(state: dict, path: Path, dataset, task: str) -> dict:
    if FIRST not in state or HEAD not in state:
        raise BenchError(f"task '{task}': {path} does not hold the shipped U-Net's weights (no {FIRST} / {HEAD})")
    channels = dataset.samples[0].channels
    inputs = state[FIRST].shape[1]
    if inputs not in (channels, channels + 2):
        raise BenchError(f"task '{task}': {path} reads {inputs} input planes; the data has {channels} channel(s) "
                         f"(with coordinate planes: {channels + 2})")
    return {"arch": "UNet", "in_channels": channels, "num_classes": int(state[HEAD].shape[0]),
            "base": int(state[FIRST].shape[0]), "coords": inputs == channels + 2}
