"""`bench check`: rerun the committed regression configurations and compare with their results.

What must not move without someone saying so: bpp to the byte for deterministic codecs (every
codec unless it declares `deterministic = False`), the status of every cell, PSNR, MS-SSIM and
every task figure within the tolerances in `check.yaml`. Tolerances are small but not zero for
floating-point figures because task networks run through BLAS kernels that may differ between
CPUs. `--update` rewrites the reference on purpose and prints what changed in the manifest."""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from bench.errors import BenchError

CONFIG = "check.yaml"
KEY = ["codec", "codec_options", "quality", "image_id"]
MANIFEST_KEYS = ("packages", "codecs", "tasks", "dataset", "git_revision")


@dataclass
class Change:
    run: str
    codec: str
    quality: float
    image_id: str  # "" for a summary figure
    column: str
    reference: object
    now: object
    tolerance: float | None  # None: must be equal
    regression: bool


def load_config(reference_dir: Path) -> dict:
    path = Path(reference_dir) / CONFIG
    if not path.is_file():
        raise BenchError(f"{reference_dir}: no {CONFIG} (the regression configurations); see README 'Regression check'")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict) or not isinstance(config.get("runs"), dict) or not config["runs"]:
        raise BenchError(f"{path}: expected a 'runs:' mapping of name -> run settings")
    return config


def run_config(settings: dict, cache_dir: str | None):
    from bench.runner import RunConfig

    known = {"data", "codecs", "tasks", "split", "limit", "qualities"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise BenchError(f"{CONFIG}: unknown run setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
    return RunConfig(codecs=list(settings["codecs"]), data=settings["data"], tasks=list(settings.get("tasks") or []),
                     split=settings.get("split", "test"), limit=settings.get("limit"), qualities=settings.get("qualities"),
                     jobs=1, device="cpu", cache_dir=cache_dir, use_cache=cache_dir is not None)


def _equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _close(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return _equal(a, b)
    return abs(a - b) <= tolerance + 1e-12


def compare(name: str, reference: Path, now: Path, tolerances: dict, nondeterministic: set[str]) -> list[Change]:
    """Every value that moved: regressions (beyond tolerance or must-be-equal) and drifts within tolerance."""
    from bench.analysis.reader import read_results

    ref, new = read_results(reference), read_results(now)
    changes: list[Change] = []
    a = ref.results.set_index(KEY)
    b = new.results.set_index(KEY)
    for key in a.index.difference(b.index).union(b.index.difference(a.index)):
        missing = key in a.index
        changes.append(Change(name, key[0], key[2], key[3], "cell", "present" if missing else "absent",
                              "absent" if missing else "present", None, True))
    task_columns = [c for cols in ref.task_columns.values() for c in cols]
    per_image = [c for c in ["bytes", "status", "psnr", "ms_ssim", *task_columns] if c in a.columns and c in b.columns
                 and (c in ("bytes", "status") or pd.api.types.is_numeric_dtype(a[c]))]
    for key in a.index.intersection(b.index):
        r, n = a.loc[key], b.loc[key]
        for column in per_image:
            x, y = r[column], n[column]
            if column == "status" or (column == "bytes" and key[0] not in nondeterministic):
                if not _equal(x, y):
                    changes.append(Change(name, key[0], key[2], key[3], column, x, y, None, True))
                continue
            if column == "bytes":
                continue
            tolerance = float(tolerances.get(column, tolerances["task"]))
            if not _equal(float(x), float(y)):
                changes.append(Change(name, key[0], key[2], key[3], column, float(x), float(y), tolerance,
                                      not _close(float(x), float(y), tolerance)))
    summary_columns = [c for c in ref.summary.columns if c in task_columns and c not in per_image and c in new.summary.columns
                       and pd.api.types.is_numeric_dtype(ref.summary[c])]
    s_ref = ref.summary.set_index(["codec", "quality"])
    s_new = new.summary.set_index(["codec", "quality"])
    for key in s_ref.index.intersection(s_new.index):
        for column in summary_columns:
            x, y = float(s_ref.loc[key, column]), float(s_new.loc[key, column])
            tolerance = float(tolerances.get(column, tolerances["task"]))
            if not _equal(x, y):
                changes.append(Change(name, key[0], key[1], "", column, x, y, tolerance, not _close(x, y, tolerance)))
    return changes


def manifest_diff(reference: Path, now: Path) -> list[str]:
    """What differs in the settings that made the two folders (versions, codecs, networks, data)."""
    import json

    old = json.loads((Path(reference) / "manifest.json").read_text()) if (Path(reference) / "manifest.json").is_file() else {}
    new = json.loads((Path(now) / "manifest.json").read_text())
    lines = []

    def walk(prefix: str, x, y) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(f"{prefix}.{k}" if prefix else k, x.get(k), y.get(k))
        elif x != y:
            lines.append(f"{prefix}: {x!r} -> {y!r}")
    for key in MANIFEST_KEYS:
        walk(key, old.get(key), new.get(key))
    return lines


def check(reference_dir: Path, update: bool = False, show_progress: bool = False, cache_dir: str | None = None):
    """Rerun every configuration; returns (changes, manifest diff lines, wall seconds per run)."""
    import time

    from bench import api, registry

    reference_dir = Path(reference_dir)
    config = load_config(reference_dir)
    tolerances = {"psnr": 0.01, "ms_ssim": 1e-4, "task": 0.005, **(config.get("tolerances") or {})}
    changes, diffs, walls = [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-check-") as tmp:
        for name, settings in config["runs"].items():
            run_settings = run_config(settings, cache_dir)
            started = time.perf_counter()
            done = api.run(run_settings, Path(tmp) / name, show_progress=show_progress)
            walls[name] = time.perf_counter() - started
            target = reference_dir / name
            nondeterministic = {spec for spec in done.results.codec.unique()
                                if spec != "reference" and not getattr(registry.get("codec", spec.split(":")[0]), "deterministic", True)}
            if update:
                diffs += [f"{name}: {line}" for line in manifest_diff(target, done.path)]
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(done.path, target)
                continue
            if not target.is_dir():
                raise BenchError(f"{target}: no reference results for run '{name}'; create them with `bench check --update`")
            changes += compare(name, target, done.path, tolerances, nondeterministic)
            diffs += [f"{name}: {line}" for line in manifest_diff(target, done.path)]
    return changes, diffs, walls
