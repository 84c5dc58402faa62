"""One run API: plan → execute → summarize → write. The CLI, `bench check` and the tests call it."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from bench.runner import RunConfig

if TYPE_CHECKING:
    import pandas as pd


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
    from bench.results import results_frame, summarize, write_run

    results = results_frame(output.rows)
    summary = summarize(results, output.task_summaries)
    manifest = build_manifest(the_plan, output, started)
    write_run(target, results, summary, manifest)
    headline = [c for task in the_plan.tasks.values() for c in task.headline_columns]
    return Run(target, results, summary, manifest, headline, output.cells_computed, output.cells_cached, output.wall_s)


def _import_in_background(module: str) -> None:
    """Import `module` (pandas, 0.5-0.7 s) on a thread while the cells are coded, so it is not
    serial time before pool workers start; the later `import` waits for it if need be."""
    threading.Thread(target=importlib.import_module, args=(module,), name=f"import {module}", daemon=True).start()
