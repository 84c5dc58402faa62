"""Where cells run: in this process, in a local pool of worker processes, or on a Dask cluster.

The runner hands an executor a list of `Cell`s and the images they name, and gets
`(index, (row, bitstream, decoded))` back as cells complete, in any order; it never knows where
they ran. The runner puts rows back in sweep order, so the results table does not depend on
the executor or the number of workers.

- A `Cell` names its image by content hash; the pixels travel once per worker, not once per cell.
- Every cell of every codec × quality group goes into one queue, so workers never wait for a
  group to finish.
- Cells of a codec that codes on the run's accelerator (`Codec.runs_on = "device"`, decided once
  by the plan: `Cell.device`) run in this process, between the others: N workers never compete
  for the GPU or load N copies of a model on it. Every codec here declares "cpu", so on a CUDA
  machine too its cells go to the workers.
- Faults stay in their cell: an exception or undecodable bytes give a failed row (`cells.py`);
  in the local pool a worker that dies (a native crash) or exceeds `cell_timeout` is killed and
  replaced, and its cell fails with the reason.
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.executors.base import Cell, Executor, run_cell, split_by_place, uses_pool
from bench.executors.inprocess import InProcessExecutor
from bench.executors.pool import LocalPoolExecutor, prewarm

__all__ = ["Cell", "Executor", "InProcessExecutor", "LocalPoolExecutor", "make_executor", "prewarm", "run_cell", "split_by_place",
           "uses_pool"]


def __getattr__(name: str):
    """`DaskExecutor` is imported on first use: a run without Dask never pays for `distributed`."""
    if name == "DaskExecutor":
        from bench.executors.dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(name)


def make_executor(kind: str = "local", jobs: int = 1, scheduler: str | None = None,
                  cell_timeout: float | None = None) -> Executor:
    """`--executor local` (in-process for one job without a timeout, else a pool) or `dask`."""
    if kind == "dask":
        from bench.executors.dask import DaskExecutor

        return DaskExecutor(jobs, scheduler, cell_timeout)
    if kind != "local":
        raise BenchError(f"--executor '{kind}': choose local or dask")
    if scheduler:
        raise BenchError("--scheduler applies to --executor dask only")
    if not uses_pool(kind, jobs, cell_timeout):
        return InProcessExecutor()
    return LocalPoolExecutor(jobs, cell_timeout)
