"""What a worker process does first: one thread per worker, so N workers use N cores and no more.

Imported only in worker processes (the local pool's fork server, a spawned worker, a Dask worker
process), never by the main process: the thread limits below are process-wide and must be set
before numpy and torch load their thread pools. It then loads what every cell needs (torch,
the quality metrics), once per worker; codecs load on their first cell and stay.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"

import torch  # noqa: E402  (after the variables above, on purpose)

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set, or inter-op work already ran in this process
    pass

import bench.cells  # noqa: E402,F401  (torch, pytorch-msssim and the registry, loaded once)


def threads() -> int:
    return torch.get_num_threads()
