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
    factory = registry.get("dataset", name)
    try:
        dataset = factory(path)
    except BenchError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetError(f"dataset '{spec}': {exc}") from exc
    return dataset
