"""One run API: plan → execute → summarize → write, and the defaults a run starts from (dataset,
codecs, tasks, where weights go). The CLI, `bench check` and the tests call it; it imports no CLI."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.runner import RunConfig

if TYPE_CHECKING:
    import pandas as pd


DEFAULT_DATASETS = ("colin27-aal", "phantom")  # the first available one is `bench run`'s default


def split_list(value: str | None, option: str) -> list[str] | None:
    """A comma-separated option as a list (None stays None); an empty list is an error naming the option."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise BenchError(f"{option}: empty list")
    return items


def default_dataset() -> tuple[str, str | None]:
    """(the first of DEFAULT_DATASETS that opens here, a note saying why when it is a fallback)."""
    from bench.datasets.spec import open_dataset

    reasons = []
    for name in DEFAULT_DATASETS:
        try:
            open_dataset(name)
        except BenchError as exc:
            reasons.append(str(exc))
            continue
        return name, (f"note: using --data {name} because {reasons[0]}" if reasons else None)
    raise BenchError("no default dataset is available: " + "; ".join(reasons))


def default_codecs(dataset) -> tuple[list[str], list[str]]:
    """Every available codec that can code the dataset (learned ones need weights trained for it),
    and a note for each one skipped."""
    from bench import registry

    chosen, notes = [], []
    for name in registry.list("codec", available=True):
        why_not = registry.get("codec", name).dataset_reason(dataset)
        if why_not is None:
            chosen.append(name)
        else:
            notes.append(f"note: skipping codec '{name}': {why_not}")
    return chosen, notes


def default_tasks(dataset) -> tuple[list[str], list[str]]:
    """Every task whose labels exist in the dataset and whose trained network is installed,
    and a note for each available task that is skipped (printed once the run is valid)."""
    from bench import registry

    chosen, notes = [], []
    for name, plugin in registry.plugins("task").items():
        why_not = plugin.reason if not plugin.available else plugin.obj.supports(dataset)
        if why_not is None:
            chosen.append(name)
        elif plugin.available:
            notes.append(f"note: skipping task '{name}': {why_not}")
    return chosen, notes


def default_out(name: str, dataset: str) -> Path:
    """Where train-task / train-codec write by default, and where `bench run` looks first."""
    import os

    from bench.checkpoints import checkpoint_name

    return Path(os.environ.get("BENCH_WEIGHTS_DIR", "weights")) / checkpoint_name(name, dataset)


@dataclass
class Run:
    path: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    manifest: dict
    headline_columns: list[str]
    cells_computed: int
    cells_cached: int
    wall_s: float


def run(config: RunConfig, out: Path | None = None, show_progress: bool = False, before_execute=None,
        executor=None) -> Run:
    """Sweep `config` and write its results folder (atomically) to `out`, default results/runs/<id>.

    `before_execute(plan)` runs once the plan is valid and before any work (the CLI prints notes there).
    `executor`: an `executors.Executor` to run the cells on (left open); default: the one `config` asks for."""
    from bench.manifest import build_manifest
    from bench.outfolder import check_writable
    from bench.runner import execute, plan

    started = datetime.now(timezone.utc)
    the_plan = plan(config)
    target = Path(out) if out else Path("results") / "runs" / f"{started:%Y%m%d-%H%M%S}-{the_plan.dataset.name}"
    check_writable(target)  # a read-only or unwritable --out fails before any work
    if before_execute is not None:
        before_execute(the_plan)
    _import_in_background("bench.results")
    output = execute(the_plan, show_progress=show_progress, executor=executor)
    from bench.results import mark_target_misses, results_frame, summarize, write_run

    targets = {label: codec.scale.target for label, codec in the_plan.codecs.items() if getattr(codec.scale, "target", None)}
    results = mark_target_misses(results_frame(output.rows), targets)
    summary = summarize(results, output.task_summaries)
    manifest = build_manifest(the_plan, output, started)
    write_run(target, results, summary, manifest)
    headline = [c for task in the_plan.tasks.values() for c in task.headline_columns]
    return Run(target, results, summary, manifest, headline, output.cells_computed, output.cells_cached, output.wall_s)


def _import_in_background(module: str) -> None:
    """Import `module` (pandas, 0.5-0.7 s) on a thread while the cells are coded, so it is not
    serial time before pool workers start; the later `import` waits for it if need be."""
    threading.Thread(target=importlib.import_module, args=(module,), name=f"import {module}", daemon=True).start()


@dataclass
class GridCoding:
    """One test image coded by every codec at about one rate: what `bench grid` draws."""

    dataset: object
    sample: object
    task: object | None  # the task network that predicts on each column, or None
    columns: list  # (title, decoded image, the rate match or None), the uncompressed image first
    lesions: dict


def code_for_grid(data: str, codecs: list[str], task_name: str, bpp: float, image_id: str | None = None,
                  device: str = "cpu") -> GridCoding:
    """The image (the test image with most lesions, else the middle one, or `image_id`), each codec
    rate-matched to `bpp` on it and decoded from its real bytes, and the task network to draw."""
    from bench import registry
    from bench.cells import codec_instance
    from bench.datasets.spec import open_dataset
    from bench.ratematch import match_rates

    dataset = open_dataset(data)
    test = dataset.split("test") or dataset.samples
    lesions = (dataset.extra or {}).get("lesions") or {}
    busiest = max(test, key=lambda s: len(lesions.get(s.id, []))) if lesions else test[len(test) // 2]
    sample = next((s for s in test if s.id == image_id), None) if image_id else busiest
    if sample is None:
        raise BenchError(f"--image '{image_id}': not a test image of '{dataset.name}' (e.g. {test[0].id})")
    task = None
    if task_name != "none":
        task_cls = registry.get("task", task_name)
        why_not = task_cls.supports(dataset)
        if why_not:
            raise BenchError(f"task '{task_name}' cannot run on '{dataset.name}': {why_not}")
        task = task_cls(dataset, device=device)
    columns = [("uncompressed", sample.image, None)]
    for spec in codecs:
        codec = codec_instance(spec, "cpu", (dataset.name, dataset.fingerprint))
        match = match_rates(codec, [sample], [bpp])[0]
        decoded = codec.decode(codec.encode(sample.image, codec.scale.check(spec, match.quality), sample.bit_depth))
        off = "" if match.within_tolerance else " (nearest it reaches)"
        columns.append((f"{spec}\n{match.bpp:.3f} bpp{off} (q {match.quality:g})", decoded, match))
    return GridCoding(dataset, sample, task, columns, lesions)
