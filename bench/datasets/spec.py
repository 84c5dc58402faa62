"""Turn `--data NAME[:PATH]` into a Dataset through the registry."""

from __future__ import annotations

from functools import lru_cache

from bench import registry
from bench.datasets.base import Dataset
from bench.errors import BenchError, DatasetError


def parse_spec(spec: str) -> tuple[str, str | None]:
    name, _, path = spec.partition(":")
    if not name:
        raise DatasetError(f"--data '{spec}': expected NAME or NAME:PATH")
    return name, (path or None)


@lru_cache(maxsize=4)
def open_dataset(spec: str) -> Dataset:
    """Open once per process: the CLI asks for the default data more than once."""
    name, path = parse_spec(spec)
    if registry.plugin("dataset", name) is None and path is None and ("/" in name or name.startswith(".")):
        from pathlib import Path

        kind = "folder" if Path(name).is_dir() else "a loader"
        hint = f"--data folder:{name}" if kind == "folder" else "--data folder:DIR, nifti:FILE, dicom:DIR, coco:FILE or yolo:FILE"
        raise DatasetError(f"--data '{spec}' is a path, not a dataset name; for {kind} use {hint}")
    factory = registry.get("dataset", name)
    try:
        dataset = factory(path)
    except BenchError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetError(f"dataset '{spec}': {exc}") from exc
    return dataset
