"""Task-network checkpoints: weights plus the manifest that says what made them.

Saved as a plain dict of tensors and primitives so they load with
`torch.load(weights_only=True)` (no pickled code runs). A checkpoint trained on other data
than the data being evaluated is refused: its dataset fingerprint must match.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bench.errors import BenchError



def weights_dirs() -> list[Path]:
    """Where checkpoints are looked up, first hit wins: $BENCH_WEIGHTS_DIR, ./weights, packaged."""
    import bench.tasks

    dirs = []
    if os.environ.get("BENCH_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["BENCH_WEIGHTS_DIR"]))
    dirs.append(Path("weights"))
    dirs.append(Path(bench.tasks.__file__).resolve().parent / "weights")
    return dirs


def checkpoint_name(task: str, dataset: str) -> str:
    return f"{task}-{dataset}.pt"


def find_checkpoint(task: str, dataset: str) -> Path | None:
    for folder in weights_dirs():
        path = folder / checkpoint_name(task, dataset)
        if path.is_file():
            return path
    return None


def stale_reason(task: str, dataset) -> str | None:
    """Why the checkpoint found for `dataset` can't serve it (trained on other data), read
    from the manifest beside it without loading weights; None when it matches."""
    path = find_checkpoint(task, dataset.name)
    if path is None:
        return None
    try:
        trained_on = json.loads(path.with_suffix(".json").read_text()).get("dataset_fingerprint")
    except (OSError, ValueError):
        return None  # no readable manifest: loading will say what is wrong
    return None if trained_on == dataset.fingerprint else _mismatch(path, trained_on, dataset.fingerprint, task, dataset.name)


def _mismatch(path: Path, trained_on: str | None, fingerprint: str, task: str, dataset: str) -> str:
    return (f"checkpoint {path} was trained on dataset fingerprint {trained_on}, but the data has {fingerprint}; "
            f"retrain with `bench train-task {task} --data {dataset}`")


def weights_id(state: dict, salt: str = "") -> str:
    """Content hash of a state dict (plus what else shapes the outputs): results cached under
    another id are never reused."""
    digest = hashlib.sha256(salt.encode())
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def save_checkpoint(path: Path, state_dict: dict, manifest: dict) -> Path:
    """Write `path` (.pt) and its manifest beside it (.json), each atomically."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "manifest": json.dumps(manifest, default=str)}, tmp)
    os.replace(tmp, path)
    tmp_json = path.with_name(f".{path.stem}.json.tmp")
    tmp_json.write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp_json, path.with_suffix(".json"))
    return path


def load_checkpoint(path: Path, dataset_fingerprint: str | None = None) -> tuple[dict, dict]:
    import torch

    try:
        blob = torch.load(Path(path), map_location="cpu", weights_only=True)
        state, manifest = blob["state_dict"], json.loads(blob["manifest"])
    except Exception as exc:
        raise BenchError(f"checkpoint {path} is unreadable: {exc}".splitlines()[0]) from exc
    trained_on = manifest.get("dataset_fingerprint")
    if dataset_fingerprint is not None and trained_on != dataset_fingerprint:
        raise BenchError(_mismatch(path, trained_on, dataset_fingerprint, manifest.get("task", "TASK"), manifest.get("dataset", "NAME")))
    return state, manifest
