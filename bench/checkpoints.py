"""Network checkpoints: compact weights plus the manifest that says what made them.

New checkpoints are safetensors files (no pickled code can run on load) with floating-point
tensors stored as float16, which halves the committed size; the manifest travels inside the
file's metadata and beside it as `.json`. Older `.pt` files (a dict of tensors read with
`torch.load(weights_only=True)`) still load. Either way the loader hands back float32 tensors,
and trainers score their final model through `as_stored`, so the figures in a manifest are those
of the weights actually stored. A checkpoint trained on other data than the data being evaluated
is refused: its dataset fingerprint must match.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bench.errors import BenchError

SUFFIXES = (".safetensors", ".pt")  # looked up in this order; new checkpoints are .safetensors
FP16_MAX = 65504.0


def weights_dirs(packaged: str = "tasks") -> list[Path]:
    """Where checkpoints are looked up, first hit wins: $BENCH_WEIGHTS_DIR, ./weights, then the
    default checkpoints packaged with the task plugins (`tasks`) or codec plugins (`codecs`)."""
    import importlib

    dirs = []
    if os.environ.get("BENCH_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["BENCH_WEIGHTS_DIR"]))
    dirs.append(Path("weights"))
    dirs.append(Path(importlib.import_module(f"bench.{packaged}").__file__).resolve().parent / "weights")
    return dirs


def checkpoint_name(task: str, dataset: str) -> str:
    return f"{task}-{dataset}{SUFFIXES[0]}"


def find_checkpoint(task: str, dataset: str, packaged: str = "tasks") -> Path | None:
    """`<task or codec>-<dataset>` checkpoint, first found in `weights_dirs(packaged)`."""
    for folder in weights_dirs(packaged):
        for suffix in SUFFIXES:
            path = folder / f"{task}-{dataset}{suffix}"
            if path.is_file():
                return path
    return None


def retrain_command(name: str, dataset: str, packaged: str = "tasks") -> str:
    """The command that trains `name` (a task network or a learned codec) on `dataset`."""
    verb = "train-codec" if packaged == "codecs" else "train-task"
    return f"bench {verb} {name} --data {dataset}"


def stale_reason(name: str, dataset, packaged: str = "tasks") -> str | None:
    """Why the checkpoint found for `dataset` can't serve it (trained on other data), read
    from the manifest beside it without loading weights; None when it matches."""
    path = find_checkpoint(name, dataset.name, packaged)
    if path is None:
        return None
    try:
        trained_on = json.loads(path.with_suffix(".json").read_text()).get("dataset_fingerprint")
    except (OSError, ValueError):
        return None  # no readable manifest: loading will say what is wrong
    if trained_on == dataset.fingerprint:
        return None
    return _mismatch(path, trained_on, dataset.fingerprint, retrain_command(name, dataset.name, packaged))


def _mismatch(path: Path, trained_on: str | None, fingerprint: str, command: str) -> str:
    return (f"checkpoint {path} was trained on dataset fingerprint {trained_on}, but the data has {fingerprint}; "
            f"retrain with `{command}`")


def file_sha256(path: Path) -> str:
    """Digest of a checkpoint file: what a codec trained against a task network records of it."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_id(state: dict, salt: str = "") -> str:
    """Content hash of a state dict (plus what else shapes the outputs): results cached under
    another id are never reused."""
    import numpy as np

    digest = hashlib.sha256(salt.encode())
    for key in sorted(state):
        value = state[key]
        if not isinstance(value, np.ndarray):  # a torch tensor
            value = value.detach().cpu().contiguous().numpy()
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def _compact(tensor):
    """float16 for floating tensors that fit its range; everything else as it is."""
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.is_floating_point() and (tensor.numel() == 0 or float(tensor.abs().max()) <= FP16_MAX):
        return tensor.to(torch.float16)
    return tensor


def _expand(state: dict) -> dict:
    """float32 for every floating tensor: what the networks are built with."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def as_stored(state_dict: dict) -> dict:
    """The state dict exactly as `load_checkpoint` will return it after `save_checkpoint`."""
    return _expand({k: _compact(v) for k, v in state_dict.items()})


def save_checkpoint(path: Path, state_dict: dict, manifest: dict) -> Path:
    """Write `path` and its manifest beside it (.json), each atomically. A `.safetensors` path
    stores compact float16 weights; a `.pt` path the legacy torch format."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(manifest, default=str)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: _compact(v) for k, v in state_dict.items()}, str(tmp), metadata={"manifest": text})
    else:
        torch.save({"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}, "manifest": text}, tmp)
    os.replace(tmp, path)
    tmp_json = path.with_name(f".{path.stem}.json.tmp")
    tmp_json.write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp_json, path.with_suffix(".json"))
    return path


def load_checkpoint_arrays(path: Path, dataset_fingerprint: str | None = None) -> tuple[dict, dict]:
    """`load_checkpoint` as NumPy arrays (float32 for floating ones): a `.safetensors` file is read
    without importing torch, so a run whose cells are all cached never pays for it."""
    import numpy as np

    path = Path(path)
    if path.suffix != ".safetensors":
        state, manifest = load_checkpoint(path, dataset_fingerprint)
        return {k: v.numpy() for k, v in state.items()}, manifest
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as fh:
            manifest = _manifest_of(fh)
            state = {key: fh.get_tensor(key) for key in fh.keys()}
    except Exception as exc:
        raise BenchError(f"checkpoint {path} is unreadable: {exc}".splitlines()[0]) from exc
    _check_fingerprint(path, manifest, dataset_fingerprint)
    return {k: v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v for k, v in state.items()}, manifest


def _manifest_of(handle) -> dict:
    """The manifest a `save_checkpoint` file carries in its safetensors metadata."""
    return json.loads((handle.metadata() or {})["manifest"])


def read_manifest(path: Path) -> dict:
    """A checkpoint's manifest without its tensors: from a .safetensors file's metadata, or from the
    .json written beside it (which may be read alone, e.g. from git history)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="np") as fh:
                return _manifest_of(fh)
        return json.loads(path.read_text())
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"{path}: not a checkpoint or its manifest ({exc})".splitlines()[0]) from None


def _check_fingerprint(path: Path, manifest: dict, dataset_fingerprint: str | None) -> None:
    trained_on = manifest.get("dataset_fingerprint")
    if dataset_fingerprint is not None and trained_on != dataset_fingerprint:
        packaged = "codecs" if manifest.get("kind") == "codec" else "tasks"
        name = manifest.get("arch" if packaged == "codecs" else "task", "NAME")
        raise BenchError(_mismatch(path, trained_on, dataset_fingerprint,
                                   retrain_command(name, manifest.get("dataset", "NAME"), packaged)))


def _read(path: Path) -> tuple[dict, dict]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as fh:
            manifest = _manifest_of(fh)
            state = {key: fh.get_tensor(key) for key in fh.keys()}
        return state, manifest
    import torch

    blob = torch.load(path, map_location="cpu", weights_only=True)
    return blob["state_dict"], json.loads(blob["manifest"])


def load_checkpoint(path: Path, dataset_fingerprint: str | None = None) -> tuple[dict, dict]:
    """(float32 state dict, manifest) from a .safetensors or .pt checkpoint."""
    path = Path(path)
    try:
        state, manifest = _read(path)
    except Exception as exc:
        raise BenchError(f"checkpoint {path} is unreadable: {exc}".splitlines()[0]) from exc
    _check_fingerprint(path, manifest, dataset_fingerprint)
    return _expand(state), manifest
