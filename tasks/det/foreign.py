"""A detector trained elsewhere: `--task det:weights=FILE`.

- `FILE.pt`, Ultralytics' own checkpoint (what `yolo train` writes as best.pt): a pickle, so
  loading it can run code from the file. It loads only with `--trust-pickle`, through
  Ultralytics' `load_checkpoint` (the EMA model when present, fp32, eval), never fused, on the
  CPU first. Its class names must be the dataset's, in order; its `imgsz` is the one it
  trained at.
- `FILE.safetensors` written by `bench train-task det` on other data: taken as it is, without
  the dataset-fingerprint check.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bench.checkpoints import file_sha256, load_checkpoint_arrays
from bench.errors import BenchError


def load_user_weights(path: Path, dataset, trust_pickle: bool):
    """(state or None, manifest, model or None): a .pt comes back as the built network."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"task 'det': weights file {path} does not exist")
    if path.suffix == ".safetensors":
        state, manifest = load_checkpoint_arrays(path, None)
        return state, {**manifest, "source": {"file": path.name, "sha256": file_sha256(path)}}, None
    if path.suffix != ".pt":
        raise BenchError(f"task 'det': {path}: give Ultralytics weights (.pt) or a bench checkpoint (.safetensors)")
    if not trust_pickle:
        raise BenchError(f"task 'det': {path} is a pickle (Ultralytics .pt) and loading it can run code from the file; "
                         "pass --trust-pickle if you trust where it came from")
    model, args = _load_pt(path)
    names = [model.names[i] for i in sorted(model.names)]
    if names != list(dataset.det_classes):
        raise BenchError(f"task 'det': {path} detects {names}, but dataset '{dataset.name}' has classes {list(dataset.det_classes)}")
    imgsz = args.get("imgsz", 640)
    imgsz = int(max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz)
    manifest = {"task": "det", "class_names": names, "imgsz": imgsz, "model_yaml": _yaml_name(model),
                "source": {"file": path.name, "sha256": file_sha256(path), "format": "ultralytics"}}
    return None, manifest, model


def _load_pt(path: Path):
    from bench.tasks.det.offline import ultralytics

    ultralytics()  # offline configuration before the first ultralytics import
    from ultralytics.nn.tasks import load_checkpoint
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        model, ckpt = load_checkpoint(str(path), device="cpu", fuse=False)
    except Exception as exc:  # an unpickling, type or shape failure: one line naming the file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BenchError(f"task 'det': {path} is not an Ultralytics checkpoint ({first})") from None
    finally:
        LOGGER.setLevel(level)
    if not hasattr(model, "names") or not isinstance(model.names, dict):
        raise BenchError(f"task 'det': {path} holds no class names; is it a detection model?")
    return model, {**(ckpt.get("train_args") or {})}


def _yaml_name(model) -> str:
    yaml = getattr(model, "yaml", None) or {}
    return str(yaml.get("yaml_file", "unknown")) if isinstance(yaml, dict) else "unknown"
