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

import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

from bench.errors import BenchError

CODEC_LOAD_ALLOWANCE_S = 300.0  # loading a codec (weights, an encoder probe) is not counted in --cell-timeout, up to this
WORKER_START_FAILURES = 3  # per worker slot: a worker that dies this often before it is ready stops the run
PREFETCH = 2  # cells out per pool worker at once: the one it codes and the next, waiting in its pipe


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


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


@contextmanager
def cores_left_to_main(busy: int):
    """While `busy` cores of this machine run cell workers, this process's torch (the tasks
    scoring a finished group) uses the cores left, at least one; restored afterwards. Yields
    the thread count it set (None: left alone). The runner asks per group, so once the workers
    run dry the scoring gets every core back.

    Why: with the default of 2 threads, scoring beside 2 one-thread workers put 4 threads on
    2 cores (an OpenMP team whose threads wait for a descheduled one: measured 4.5x slower);
    but pinned to 1 thread for the whole run, the scoring left in the queue after the last cell
    (most of the default job) ran on one core of two."""
    if busy <= 0:
        yield None
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, available_cores() - busy)))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


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


class InProcessExecutor(Executor):
    """One cell after another in this process: `-j 1`. No isolation: a native crash ends the run
    (finished cells stay in the cache) and there is no timeout."""

    kind = "in-process"

    def run(self, cells, images):
        for index, cell in enumerate(cells):
            yield index, run_cell(cell, images[cell.image])

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": 1, "threads_per_worker": main_threads()}


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


# -- local pool --------------------------------------------------------------------------------

def _context():
    """Fork server where the OS has one: it loads `bench.worker` once, and each worker,
    first or replacement, is a cheap fork of it. Spawn elsewhere."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["bench.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


def prewarm() -> None:
    """Start the fork server (it loads `bench.worker` in the background) if it is not running."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def uses_pool(kind: str, jobs: int, cell_timeout: float | None) -> bool:
    return kind == "local" and (jobs > 1 or cell_timeout is not None)


def _worker_main(conn) -> None:
    """A pool worker: ("ready", pid, threads), then for each (index, cell, pixels) it receives,
    ("started", index) once the codec is loaded and ("done", index, result)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops the workers
    _die_with_parent()
    import bench.worker

    images: dict[str, object] = {}
    try:
        conn.send(("ready", os.getpid(), bench.worker.threads()))
        while True:
            message = conn.recv()
            if message is None:
                return
            index, cell, pixels = message
            if pixels is not None:
                images[cell.image] = pixels
            _load_codec(cell)
            conn.send(("started", index))
            conn.send(("done", index, run_cell(cell, images[cell.image])))
    except (EOFError, OSError):  # the main process is gone (Ctrl-C, kill -9): so is this worker's job
        return


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when its parent goes, so a worker stuck in a hung
    encoder never outlives a killed run. A fork server's child lets go of the server's "alive"
    pipe, so the server (its parent) exits as soon as the main process is gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        from multiprocessing import forkserver

        server = forkserver._forkserver
        if server._forkserver_alive_fd is not None:
            os.close(server._forkserver_alive_fd)
            server._forkserver_alive_fd = None
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class _Worker:
    """One pool worker as the dispatcher sees it: its pipe, and the cells sent to it, in order.

    Up to `PREFETCH` cells are out at once: the next one waits in the pipe, so a worker never
    idles between cells while the dispatcher (a thread of the busy main process) gets its turn.
    Only the first cell runs; its clock starts when the worker says so ("started")."""

    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="bench-worker")
        self.process.start()
        child.close()
        self.ready = False
        self.images: set[str] = set()  # hashes whose pixels this worker holds
        self.queue: deque[int] = deque()  # the cells sent to it and not done; the first is being coded
        self.broken = False  # a send failed: it is dying, and `_collect` will see to its cells
        self.started = False  # the first cell's codec has loaded and its clock runs
        self.deadline = math.inf

    @property
    def index(self) -> int | None:
        """The cell it is coding, if any."""
        return self.queue[0] if self.queue else None

    def send(self, index: int, cell: Cell, images, timeout: float | None) -> bool:
        pixels = None if cell.image in self.images else images[cell.image]
        try:
            self.conn.send((index, cell, pixels))
        except (BrokenPipeError, OSError):
            return False
        self.images.add(cell.image)
        self.queue.append(index)
        if len(self.queue) == 1:
            self._clock(timeout)
        return True

    def _clock(self, timeout: float | None) -> None:
        """The first cell's deadline: its codec's load allowance until it says it has started."""
        self.started = False
        self.deadline = time.monotonic() + max(timeout, CODEC_LOAD_ALLOWANCE_S) if timeout is not None else math.inf

    def done(self, index: int, timeout: float | None) -> None:
        if self.queue and self.queue[0] == index:
            self.queue.popleft()
            if self.queue:
                self._clock(timeout)

    def stop(self, kill: bool) -> None:
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(1.0)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5.0)
        self.conn.close()


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalPoolExecutor(Executor):
    """`-j N`: N worker processes of our own, one thread each, fed through pipes.

    Each worker loads a codec once and keeps the pixels it was sent, so an image crosses the
    pipe once per worker. With `cell_timeout`, a cell that runs longer (after its codec has
    loaded) has its worker killed; a worker that dies takes only its own cell with it. Both
    cells fail with the reason and a fresh worker takes the slot."""

    kind = "local-pool"

    def __init__(self, workers: int, cell_timeout: float | None = None) -> None:
        self.workers = workers
        self.cell_timeout = cell_timeout
        self.started_workers = 0  # the most workers running at once
        self.replaced = 0  # workers killed (timeout) or found dead, and started afresh
        self.worker_threads: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: list[_Worker] = []

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.started_workers or self.workers, "threads_per_worker": self.worker_threads or 1,
                "main_threads": main_threads(), "cell_timeout_s": self.cell_timeout, "workers_replaced": self.replaced,
                "start_method": _context().get_start_method()}

    def busy_workers(self) -> int:
        return sum(w.index is not None for w in list(self._pool))

    def run(self, cells, images):
        local, remote = split_by_place(cells)
        results: queue.Queue = queue.Queue()
        if remote:
            prewarm()  # from this thread: the fork server outlives the dispatch thread
            self._stop.clear()
            self._thread = threading.Thread(target=self._dispatch, args=(cells, images, remote, results), daemon=True,
                                            name="bench-dispatch")
            self._thread.start()
        try:
            yield from _interleave(results, len(remote), local, cells, images)
        finally:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
                self._thread = None

    def _dispatch(self, cells, images, todo: list[int], results: queue.Queue) -> None:
        """The pool's loop, in a thread of its own: feeds idle workers, collects results, kills
        and replaces workers that die or run past the timeout. The main thread meanwhile
        scores finished groups."""
        from multiprocessing.connection import wait

        try:
            ctx = _context()
            n = min(self.workers, len(todo))
            while len(self._pool) < n:
                self._pool.append(_Worker(ctx))
            self.started_workers = max(self.started_workers, len(self._pool))
            start_failures = [0] * len(self._pool)
            pending = deque(todo)
            while (pending or any(w.queue for w in self._pool)) and not self._stop.is_set():
                # fill idle workers first; a second cell each only while the queue outlasts a round
                for depth in range(1, PREFETCH + 1):
                    for slot, w in enumerate(self._pool):
                        if depth > 1 and len(pending) < len(self._pool):
                            break  # near the end: keep the last cells for whichever worker is free first
                        if w.ready and not w.broken and len(w.queue) < depth and pending:
                            index = pending.popleft()
                            if not w.send(index, cells[index], images, self.cell_timeout):
                                pending.appendleft(index)  # the worker is gone: not this cell's fault
                                w.broken = True  # its death, and the cell it was coding, are `_collect`'s
                nearest = min((w.deadline for w in self._pool if w.queue), default=math.inf)
                wait([x for w in self._pool for x in (w.conn, w.process.sentinel)],
                     timeout=max(0.0, min(0.2, nearest - time.monotonic())))
                for slot, w in enumerate(self._pool):
                    self._collect(ctx, slot, w, results, start_failures, pending)
        except BaseException as exc:  # a bug here must reach the main thread, not hang it
            results.put(exc)
        finally:
            for w in self._pool:
                w.stop(kill=self._stop.is_set())
            self._pool = []

    def _collect(self, ctx, slot: int, w: _Worker, results: queue.Queue, start_failures: list[int], pending: deque) -> None:
        try:
            while w.conn.poll():
                message = w.conn.recv()
                if message[0] == "ready":
                    w.ready, start_failures[slot] = True, 0
                    self.worker_threads = message[2]
                elif message[0] == "started" and message[1] == w.index:
                    w.started = True
                    if self.cell_timeout is not None:
                        w.deadline = time.monotonic() + self.cell_timeout
                elif message[0] == "done":
                    results.put((message[1], message[2]))
                    w.done(message[1], self.cell_timeout)
            if not w.process.is_alive():
                raise EOFError
        except (EOFError, OSError):
            w.process.join(5.0)
            if w.index is not None:
                results.put((w.index, failed(f"worker died ({_death(w.process)}) while coding this cell; replaced")))
                w.queue.popleft()
            elif not w.ready:
                start_failures[slot] += 1
                if start_failures[slot] > WORKER_START_FAILURES:
                    raise RuntimeError(f"pool workers keep dying before they start ({_death(w.process)}); "
                                       "run with -j 1 to see the error") from None
            self._replace(ctx, slot, pending)
            return
        if w.index is not None and time.monotonic() > w.deadline:
            why = (f"timed out after {self.cell_timeout:g} s" if w.started else
                   f"codec did not load within {max(self.cell_timeout, CODEC_LOAD_ALLOWANCE_S):g} s")
            results.put((w.index, failed(f"{why}; worker killed and replaced")))
            w.queue.popleft()
            self._replace(ctx, slot, pending)

    def _replace(self, ctx, slot: int, pending: deque) -> None:
        """Kill the worker in `slot` and start a fresh one; the cells it had not begun go back
        to the front of the queue, in order (they did nothing wrong)."""
        old = self._pool[slot]
        pending.extendleft(reversed(old.queue))
        old.queue.clear()
        old.stop(kill=True)
        self._pool[slot] = _Worker(ctx)
        self.replaced += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# -- Dask ------------------------------------------------------------------------------------

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
        import bench.worker  # noqa: F401  (one thread per worker process; once per process)
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


def make_executor(kind: str = "local", jobs: int = 1, scheduler: str | None = None,
                  cell_timeout: float | None = None) -> Executor:
    """`--executor local` (in-process for one job without a timeout, else a pool) or `dask`."""
    if kind == "dask":
        return DaskExecutor(jobs, scheduler, cell_timeout)
    if kind != "local":
        raise BenchError(f"--executor '{kind}': choose local or dask")
    if scheduler:
        raise BenchError("--scheduler applies to --executor dask only")
    if not uses_pool(kind, jobs, cell_timeout):
        return InProcessExecutor()
    return LocalPoolExecutor(jobs, cell_timeout)
