"""`-j 1`: one cell after another in this process."""

from __future__ import annotations

from bench.executors.base import Executor, run_cell
from bench.device import main_threads


class InProcessExecutor(Executor):
    """One cell after another in this process: `-j 1`. No isolation: a native crash ends the run
    (finished cells stay in the cache) and there is no timeout."""

    kind = "in-process"

    def run(self, cells, images):
        for index, cell in enumerate(cells):
            yield index, run_cell(cell, images[cell.image])

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": 1, "threads_per_worker": main_threads()}
