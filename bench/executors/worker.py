"""What a worker process does first: one thread per worker, so N workers use N cores and no more.

Imported only in worker processes (the local pool's fork server, a spawned worker, a Dask worker
process), never by the main process: the thread limits below are process-wide and must be set
before numpy and torch start their thread pools. torch is not imported here: a worker coding
classical cells never needs it, and a learned codec's first cell imports it with these limits
already in force (torch reads OMP_NUM_THREADS when it loads).
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"

import bench.cells  # noqa: E402,F401  (numpy, the quality metrics and the registry, loaded once)
import bench.quality  # noqa: E402,F401  (measure_cell imports it per call; loaded here once, before the fork)


def threads() -> int:
    """This worker's compute threads: torch's count once a learned codec has loaded it."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else int(os.environ["OMP_NUM_THREADS"])
