"""What produced a results folder: command, config, versions, git revision, data, machine."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ["mvmic-bench", "numpy", "pillow", "imagecodecs", "av", "imageio-ffmpeg", "torch", "torchvision",
            "pytorch-msssim", "compressai", "ultralytics", "pandas", "nibabel", "pydicom", "faster-coco-eval"]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision() -> str | None:
    """HEAD of the checkout the code runs from, with '+dirty' when it has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if rev.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    info["cuda"] = None
    from bench.device import no_nvidia_driver

    if not no_nvidia_driver():  # without the driver there is no CUDA, and no need to import torch to learn it
        try:
            import torch

            info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        except Exception:
            pass
    return info


def metric_directions(plan, output) -> dict[str, str]:
    """"higher" or "lower" (is better) for every metric column, so analysis never guesses."""
    lower = {"bpp", "bytes", "encode_s", "decode_s"}
    for task in plan.tasks.values():
        lower.update(task.lower_is_better)
    columns = ["bpp", "psnr", "ms_ssim", "encode_s", "decode_s"]
    columns += [c for cols in output.task_columns.values() for c in cols if not c.endswith(("_lo", "_hi"))]
    return {c: "lower" if c in lower else "higher" for c in dict.fromkeys(columns)}


def build_manifest(plan, output, started: datetime) -> dict:
    from bench.analysis.reader import SCHEMA_VERSION
    from bench.cache import Cache

    return {
        "schema_version": SCHEMA_VERSION,
        "command": sys.argv,
        "config": {**dataclasses.asdict(plan.config), "cache_dir": str(Cache(plan.config.cache_dir).root)},  # as resolved
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "wall_s": round(output.wall_s, 3),
        "cells_computed": output.cells_computed,
        "cells_cached": output.cells_cached,
        "device": plan.device,
        "executor": output.executor,  # where the cells ran: kind, workers, threads per worker and in the main process
        "dataset": {"spec": plan.config.data, "name": plan.dataset.name, "fingerprint": plan.dataset.fingerprint,
                    "source": plan.dataset.source, "split": plan.config.split, "n_images": len(plan.samples)},
        "codecs": {name: {**codec.fingerprint(), "qualities": plan.qualities[name], "scale": codec.scale.as_dict()}
                   for name, codec in plan.codecs.items()},
        # network and scoring code behind every score: `bench combine` joins only folders that agree on both
        "tasks": {name: {"model_id": task.model_id(), "scoring_version": task.scoring_version(), **_weights_source(task)}
                  for name, task in plan.tasks.items()},
        "task_columns": output.task_columns,
        "rate_match": plan.rate_match or None,
        "metric_directions": metric_directions(plan, output),
        "packages": package_versions(),
        "git_revision": git_revision(),
        "machine": machine(),
    }


def _weights_source(task) -> dict:
    """Where a task's network came from: the user's file (name and SHA-256) when they gave one."""
    source = (getattr(task, "manifest", None) or {}).get("source")
    return {"weights": source} if source else {}
