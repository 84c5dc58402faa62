"""What every executor shares: the `Cell`, the `Executor` interface, and running one cell here."""

from __future__ import annotations

import queue
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Mapping



@dataclass(frozen=True)
class Cell:
    """One unit of work: code one image with one codec at one quality."""

    codec: str  # label: the spec with its options sorted (`vvc:preset=slow`)
    quality: float
    image: str  # content hash of the image (`datasets.base.image_hash`); the pixels travel beside it
    bit_depth: int
    device: str = "cpu"  # "cpu": any worker codes it; else the run's accelerator, coded in the main process
    data: tuple[str, str] | None = None  # dataset (name, fingerprint): learned codecs load the weights trained for it
    keep_decoded: bool = True  # send the decoded image back (a task will score it)
    source: tuple[str, str, int] | None = None  # (dataset spec, split, index): where a Dask worker reads the image


def split_by_place(cells) -> tuple[list[int], list[int]]:
    """(indices coded in this process, indices for the workers), by each cell's planned device."""
    local = [i for i, c in enumerate(cells) if c.device != "cpu"]
    return local, [i for i, c in enumerate(cells) if c.device == "cpu"]


def run_cell(cell: Cell, image) -> tuple[dict, bytes, object]:
    """Code one cell here; never raises (a failing codec gives a failed row)."""
    from bench.cells import measure_cell

    row, stream, decoded = measure_cell(cell.codec, cell.quality, image, cell.bit_depth, cell.device, cell.data)
    return row, stream, (decoded if cell.keep_decoded else None)


def failed(reason: str) -> tuple[dict, bytes, None]:
    from bench.cells import blank_row

    return blank_row("failed", reason), b"", None


def _load_codec(cell: Cell) -> None:
    """Load the cell's codec before its clock starts; an error here is recorded by `run_cell`."""
    from bench.cells import codec_instance

    try:
        codec_instance(cell.codec, cell.device, cell.data)
    except Exception:
        pass


class Executor:
    kind = "executor"

    def run(self, cells: list[Cell], images: Mapping[str, object]) -> Iterator[tuple[int, tuple]]:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind}

    def busy_workers(self) -> int:
        """How many cores of this machine its workers are coding on right now."""
        return 0

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _interleave(results: queue.Queue, n_remote: int, local: list[int], cells: list[Cell], images) -> Iterator:
    """Yield remote results as they arrive; run local (GPU) cells here while none is waiting."""
    local_left = deque(local)
    while n_remote or local_left:
        try:
            item = results.get(timeout=0 if local_left else 0.5) if n_remote else None
        except queue.Empty:
            item = None
        if item is None:
            if local_left:
                index = local_left.popleft()
                yield index, run_cell(cells[index], images[cells[index].image])
            continue
        if isinstance(item, BaseException):
            raise item
        n_remote -= 1
        yield item


def uses_pool(kind: str, jobs: int, cell_timeout: float | None) -> bool:
    return kind == "local" and (jobs > 1 or cell_timeout is not None)
