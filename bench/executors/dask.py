"""`--executor dask`: cells on a Dask LocalCluster or a scheduler given by address."""

from __future__ import annotations

import os
import queue
import threading

from bench.errors import BenchError

from bench.executors.base import Cell, Executor, _interleave, _load_codec, failed, run_cell, split_by_place
from bench.device import available_cores, main_threads

def _dataset_image(source: tuple[str, str, int], expected: str):
    """An image as a Dask worker reads it from the dataset (once per worker process); it must be
    the very image the main process planned with."""
    from bench.datasets.base import image_hash
    from bench.datasets.spec import open_dataset

    spec, split, index = source
    sample = open_dataset(spec).split(split)[index]
    if image_hash(sample.image, sample.bit_depth) != expected:
        raise BenchError(f"image {index} of '{spec}' ({split}) differs on this worker: give the workers the same data")
    return sample.image


async def _end_worker() -> None:
    """Run on a Dask worker whose cell hung: end its process; its nanny starts a fresh one."""
    os._exit(1)


def _pixels(image):
    return image


def _dask_cell(cell: Cell, image, timeout: float | None, pin_threads: bool):
    """A cell on a Dask worker; with a timeout it runs in a thread, and a late one returns a
    failed row plus this worker's address, so the client ends that worker process (and the hung
    thread with it) once it has the row."""
    if pin_threads:
        import bench.executors.worker  # noqa: F401  (one thread per worker process; once per process)
    _load_codec(cell)
    if timeout is None:
        return run_cell(cell, image), None
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run_cell(cell, image)), daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        from distributed import get_worker

        return failed(f"timed out after {timeout:g} s; worker replaced"), get_worker().address
    return box["result"], None


class DaskExecutor(Executor):
    """`--executor dask`: cells as tasks on a dask.distributed cluster, at `scheduler`
    (tcp://HOST:PORT), or on a LocalCluster of `workers` processes with one thread each.

    Each image is a task of its own: a worker reads it from the dataset by its spec (so the data
    must be at the same path on the workers), or, for a cell without a source, from the task's
    own bytes; its dependents fetch it once per worker, and Dask recomputes it if a worker dies.
    The cache stays with the main process (it may be shared storage; workers never touch it).
    Workers need this package and its codec plugins installed. A worker that dies has its cell
    retried by Dask (`distributed.scheduler.allowed-failures`) and then failed."""

    kind = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None, cell_timeout: float | None = None,
                 processes: bool = True) -> None:
        self.workers, self.scheduler, self.cell_timeout, self.processes = workers, scheduler, cell_timeout, processes
        self.client = None
        self.cluster = None
        self._pending: set = set()  # keys of the cells still out

    def _connect(self):
        if self.client is not None:
            return self.client
        try:
            import logging

            from distributed import Client, LocalCluster
        except ImportError:
            raise BenchError("--executor dask needs dask.distributed: pip install 'mvmic-bench[dask]'") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=15)
            except (OSError, TimeoutError, ValueError) as exc:
                raise BenchError(f"--scheduler {self.scheduler}: cannot connect ({exc})") from None
        else:
            env = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            extra = {"env": env} if self.processes else {}
            self.cluster = LocalCluster(n_workers=self.workers or available_cores(), threads_per_worker=1,
                                        processes=self.processes, dashboard_address=None, silence_logs=logging.CRITICAL, **extra)
            self.client = Client(self.cluster)
        return self.client

    def describe(self) -> dict:
        from importlib.metadata import version

        info = {"kind": self.kind, "scheduler": self.scheduler or "LocalCluster", "main_threads": main_threads(),
                "cell_timeout_s": self.cell_timeout, "dask": version("distributed")}
        if self.client is not None:
            workers = self.client.scheduler_info().get("workers", {})
            info["workers"] = len(workers)
            info["threads_per_worker"] = sorted({w.get("nthreads") for w in workers.values()})
        else:
            info["workers"] = self.workers
        return info

    def busy_workers(self) -> int:
        if self.scheduler or not self.processes:  # a remote cluster's cores, or threads of this process
            return 0
        return min(self.workers or available_cores(), len(self._pending))

    def run(self, cells, images):
        from distributed import as_completed

        local, remote = split_by_place(cells)
        results: queue.Queue = queue.Queue()
        futures, pending = [], self._pending
        pending.clear()
        if remote:
            client = self._connect()
            sources = {cells[i].image: cells[i].source for i in remote}
            pixels = {h: client.submit(_dataset_image, source, h, key=f"bench-image-{h}") if source is not None
                      else client.submit(_pixels, images[h], key=f"bench-pixels-{h}") for h, source in sources.items()}
            pin = self.processes or self.scheduler is not None
            futures = [client.submit(_dask_cell, cells[i], pixels[cells[i].image], self.cell_timeout, pin, pure=False)
                       for i in remote]
            del pixels  # the cells hold them
            index_of = {f.key: i for f, i in zip(futures, remote)}
            pending.update(index_of)

            def pump():
                try:
                    for future in as_completed(futures):
                        pending.discard(future.key)
                        results.put((index_of[future.key], self._result(future)))
                except BaseException as exc:
                    results.put(exc)

            threading.Thread(target=pump, daemon=True, name="bench-dask").start()
        try:
            yield from _interleave(results, len(remote), local, cells, images)
        finally:
            left = [f for f in futures if f.key in pending]
            if left:
                self.client.cancel(left)

    def _result(self, future):
        try:
            result, hung_worker = future.result()
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # the cell took down every worker it was tried on
                tries = exc.args[2] + 1 if len(exc.args) > 2 else "every"
                return failed(f"worker died while coding this cell (on each of the {tries} workers Dask tried)")
            return failed(f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        finally:
            future.release()
        if hung_worker is not None and (self.processes or self.scheduler):
            try:  # end the worker process and its hung thread; its nanny starts a fresh one
                self.client.run(_end_worker, workers=[hung_worker], wait=False)
            except Exception:
                pass
        return result

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
