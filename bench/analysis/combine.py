"""One results folder from several `bench run` folders of the same images and task networks.

Why: a new codec (yours, or a freshly trained MVMICNet) is compared with a committed reference
sweep without recomputing the reference's codecs. That is only honest where every folder scored
the same images with the same networks and the same scoring code, so those are checked, not
assumed: dataset (name, fingerprint, split, image count and ids), each task's network
(`model_id`) and scoring code (`scoring_version`), and the uncompressed rows, which must agree.
A codec label in two folders is refused: which of two runs of one codec is meant is the user's call."""

from __future__ import annotations

import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from bench.analysis.reader import REFERENCE, SCHEMA_VERSION, ResultsFolder, read_results
from bench.errors import BenchError

DATASET_KEYS = ("name", "fingerprint", "split", "n_images")
REFERENCE_TOLERANCE = 1e-6  # uncompressed figures are deterministic given the same images and networks


def combine_folders(paths: list[Path | str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(results, summary, manifest) of the folders together; a one-line BenchError where they differ."""
    if len(paths) < 2:
        raise BenchError("bench combine: give at least two results folders")
    folders = [read_results(p) for p in paths]
    first = folders[0]
    for other in folders[1:]:
        _same_dataset(first, other)
        _same_tasks(first, other)
        _same_images(first, other)
        _same_uncompressed(first, other)
    _distinct_codecs(folders)
    results = pd.concat([first.results] + [f.results[f.results.codec != REFERENCE] for f in folders[1:]], ignore_index=True)
    summary = pd.concat([first.summary] + [f.summary[f.summary.codec != REFERENCE] for f in folders[1:]], ignore_index=True)
    return results, summary, _manifest(folders)


def _same_dataset(a: ResultsFolder, b: ResultsFolder) -> None:
    da, db = a.manifest.get("dataset", {}), b.manifest.get("dataset", {})
    for key in DATASET_KEYS:
        if da.get(key) != db.get(key):
            raise BenchError(f"bench combine: {b.path} has dataset {key} {db.get(key)!r}, {a.path} has {da.get(key)!r}; "
                             "only runs on the same images combine")


def _same_tasks(a: ResultsFolder, b: ResultsFolder) -> None:
    ta, tb = a.manifest.get("tasks", {}), b.manifest.get("tasks", {})
    if set(ta) != set(tb):
        raise BenchError(f"bench combine: {b.path} ran tasks {sorted(tb) or 'none'}, {a.path} ran {sorted(ta) or 'none'}; "
                         "run both with the same --task")
    for name in ta:
        for key in ("model_id", "scoring_version"):
            va, vb = ta[name].get(key), tb[name].get(key)
            if va is None or vb is None:
                old = a.path if va is None else b.path
                raise BenchError(f"bench combine: {old} does not record task '{name}''s {key} (made by an older bench); "
                                 "rerun it (cached cells make that quick) to combine it")
            if va != vb:
                raise BenchError(f"bench combine: task '{name}' differs in {key} ({a.path}: {va}, {b.path}: {vb}); "
                                 "scores from different networks or scoring code do not combine")


def _same_images(a: ResultsFolder, b: ResultsFolder) -> None:
    ia, ib = set(a.results.image_id.astype(str)), set(b.results.image_id.astype(str))
    if ia != ib:
        raise BenchError(f"bench combine: {b.path} and {a.path} hold different images "
                         f"({len(ib - ia)} only in the first, {len(ia - ib)} only in the second)")


def _same_uncompressed(a: ResultsFolder, b: ResultsFolder) -> None:
    """The uncompressed row is the same networks on the same images: it must match, or something else differs."""
    ra, rb = a.summary[a.summary.codec == REFERENCE], b.summary[b.summary.codec == REFERENCE]
    if ra.empty or rb.empty:
        return
    for column in sorted(set(ra.columns) & set(rb.columns) - {"codec", "quality"}):
        va, vb = ra[column].iloc[0], rb[column].iloc[0]
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and not (math.isnan(va) and math.isnan(vb)):
            if not math.isclose(float(va), float(vb), rel_tol=REFERENCE_TOLERANCE, abs_tol=REFERENCE_TOLERANCE):
                raise BenchError(f"bench combine: the uncompressed '{column}' is {vb} in {b.path} but {va} in {a.path}; "
                                 "the runs did not score alike")


def _distinct_codecs(folders: list[ResultsFolder]) -> None:
    seen: dict[str, Path] = {}
    for folder in folders:
        for codec in folder.codecs:
            if codec in seen:
                raise BenchError(f"bench combine: codec '{codec}' is in both {seen[codec]} and {folder.path}; "
                                 "keep one (rerun one with a different --codecs)")
            seen[codec] = folder.path


def _ordered_union(lists) -> list:
    return list(dict.fromkeys(x for items in lists for x in items))


def _manifest(folders: list[ResultsFolder]) -> dict:
    """The first folder's manifest, with every folder's codecs, task columns and metric directions,
    and `combined_from`: each source's command, revision, versions and wall time."""
    base = dict(folders[0].manifest)
    manifests = [f.manifest for f in folders]
    tasks = {name: _ordered_union(m.get("task_columns", {}).get(name, []) for m in manifests) for name in base.get("task_columns", {})}
    rate_match = {k: v for m in manifests for k, v in (m.get("rate_match") or {}).items()}
    base.update({
        "schema_version": SCHEMA_VERSION,
        "command": sys.argv,
        "config": {**base.get("config", {}), "codecs": _ordered_union(m.get("config", {}).get("codecs", []) for m in manifests)},
        "finished": datetime.now(timezone.utc).isoformat(),
        "wall_s": round(sum(float(m.get("wall_s") or 0) for m in manifests), 3),
        "cells_computed": sum(int(m.get("cells_computed") or 0) for m in manifests),
        "cells_cached": sum(int(m.get("cells_cached") or 0) for m in manifests),
        "codecs": {k: v for m in manifests for k, v in m.get("codecs", {}).items()},
        "task_columns": tasks,
        "rate_match": rate_match or None,
        "metric_directions": {k: v for m in manifests for k, v in m.get("metric_directions", {}).items()},
        "combined_from": [{"path": str(f.path), "command": f.manifest.get("command"), "git_revision": f.manifest.get("git_revision"),
                           "packages": f.manifest.get("packages"), "machine": f.manifest.get("machine"),
                           "wall_s": f.manifest.get("wall_s"), "codecs": f.codecs} for f in folders],
    })
    return base
