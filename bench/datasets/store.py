"""A built dataset kept on disk, so a loader that decodes volumes and cuts slices does it once.

Why: opening colin27-aal (importing nibabel, decoding three NIfTI volumes, cutting and boxing
the slices) took 1.4-2 s of every `bench run`, more than the whole execute phase of a cached
rerun. The entry is keyed by what the samples are made of: the source files' paths, sizes and
modification times, the loader's code, and the versions of numpy and of the packages that
decode or generate them (nibabel; scipy for the phantom); change any of them
and the dataset is built afresh. Stored as an uncompressed .npz without pickles in
`$BENCH_CACHE_DIR/datasets` (default `~/.cache/mvmic-bench/datasets`), written atomically; an
entry that does not read back is rebuilt. The dataset's fingerprint is computed from the
loaded pixels as always.
"""

from __future__ import annotations

import hashlib
import io
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np

from bench.cache import atomic_write, default_dir
from bench.datasets.base import Dataset, Sample

_ARRAYS = ("image", "mask", "boxes", "labels")


def store_dir() -> Path:
    """Read at call time, so a changed $BENCH_CACHE_DIR (tests set one each) is followed."""
    return default_dir() / "datasets"


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def entry_key(name: str, sources: list[Path], code: list[Path], packages: tuple[str, ...]) -> str:
    files = []
    for path in sources:
        stat = path.stat()
        files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in [*code, Path(__file__)]]
    parts = [name, files, digests, np.__version__, *[_package_version(p) for p in packages]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def _write(path: Path, dataset: Dataset) -> None:
    meta = {"name": dataset.name, "seg_classes": dataset.seg_classes, "det_classes": dataset.det_classes,
            "description": dataset.description, "source": dataset.source, "extra": dataset.extra,
            "samples": [{"id": s.id, "bit_depth": s.bit_depth, "modality": s.modality, "split": s.split,
                         "has": [a for a in _ARRAYS if getattr(s, a) is not None]} for s in dataset.samples]}
    arrays = {f"{a}{i}": getattr(s, a) for i, s in enumerate(dataset.samples) for a in _ARRAYS if getattr(s, a) is not None}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    atomic_write(path, buffer.getvalue())


def _read(path: Path) -> Dataset:
    with np.load(path, allow_pickle=False) as entry:
        meta = json.loads(entry["meta"].tobytes())
        samples = []
        for i, s in enumerate(meta["samples"]):
            arrays = {a: (entry[f"{a}{i}"] if a in s["has"] else None) for a in _ARRAYS}
            samples.append(Sample(id=s["id"], bit_depth=s["bit_depth"], modality=s["modality"], split=s["split"], **arrays))
    return Dataset(name=meta["name"], samples=samples, seg_classes=meta["seg_classes"], det_classes=meta["det_classes"],
                   description=meta["description"], source=meta["source"], extra=meta["extra"])


def stored_or_built(name: str, sources: list[Path], code: list[Path], packages: tuple[str, ...],
                    build: Callable[[], Dataset]) -> Dataset:
    """The dataset from the store when an entry for exactly these sources, this code and these
    `packages`' versions (besides numpy's) exists; else `build()`, then stored (a folder we
    cannot write costs only the rebuild next time)."""
    path = store_dir() / f"{name}-{entry_key(name, sources, code, packages)}.npz"
    try:
        return _read(path)
    except Exception:  # missing, cut short, not a zip, another layout: build it again
        pass
    dataset = build()
    try:
        _write(path, dataset)
    except OSError:
        pass
    return dataset
