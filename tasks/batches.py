"""Task inference in small fixed batches, each on one torch thread, several at once: the same
numbers whatever number of cores the tasks were given.

Why: torch's CPU kernels split their sums by the intra-op thread count, so one network scores
one image a little differently on 1 and on 2 threads. Measured on colin27-aal: detection
scores moved by up to 4e-7 and boxes by 3e-5 px, and a seg-holdout pixel flipped class. The
harness gives the tasks the cores that busy cell workers leave, a count that changes during a
run, so the results table depended on timing. Here a batch's numbers depend only on its
images; the cores are used by running batches side by side (torch releases the GIL in its
kernels). On a GPU the batches run one after another.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from bench.device import one_thread

BATCH = 4  # images per forward pass: small enough that a 24-slice group keeps 2 cores busy


def spans(shapes: Sequence[tuple], size: int = BATCH) -> list[range]:
    """Consecutive index ranges of at most `size` items sharing one shape (a batch is one tensor)."""
    out, start = [], 0
    while start < len(shapes):
        end = start + 1
        while end < len(shapes) and end - start < size and shapes[end] == shapes[start]:
            end += 1
        out.append(range(start, end))
        start = end
    return out


def run_batches(infer: Callable[[range], list[Any]], batches: Sequence[range], device: str) -> list[Any]:
    """`infer(batch)` for every batch, concatenated in order. On the CPU each call runs on one
    torch thread, with as many calls at once as torch had threads on entry (restored after)."""
    import torch

    if str(device) != "cpu":
        return [item for batch in batches for item in infer(batch)]

    def on_one_thread(batch: range) -> list[Any]:
        with one_thread():  # a pool thread's own OpenMP setting, too
            return infer(batch)

    side_by_side = min(torch.get_num_threads(), len(batches))
    with one_thread():
        if side_by_side <= 1:
            parts = [infer(batch) for batch in batches]
        else:
            with ThreadPoolExecutor(side_by_side, thread_name_prefix="task-batch") as pool:
                parts = list(pool.map(on_one_thread, batches))
    return [item for part in parts for item in part]
