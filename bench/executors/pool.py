"""The local worker pool (`-j N`, `--cell-timeout`): forked workers, their pipe protocol, crash and
timeout isolation; each worker loads `bench.executors.worker` first."""

from __future__ import annotations

import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque


from bench.executors.base import Cell, Executor, _interleave, _load_codec, failed, run_cell, split_by_place
from bench.device import main_threads

CODEC_LOAD_ALLOWANCE_S = 300.0  # loading a codec (weights, an encoder probe) is not counted in --cell-timeout, up to this
WORKER_START_FAILURES = 3  # per worker slot: a worker that dies this often before it is ready stops the run
PREFETCH = 2  # cells out per pool worker at once: the one it codes and the next, waiting in its pipe


def _context():
    """Fork server where the OS has one: it loads `bench.executors.worker` once, and each worker,
    first or replacement, is a cheap fork of it. Spawn elsewhere."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["bench.executors.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


def prewarm() -> None:
    """Start the fork server (it loads `bench.executors.worker` in the background) if it is not running."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_main(conn) -> None:
    """A pool worker: ("ready", pid, threads), then for each (index, cell, pixels) it receives,
    ("started", index) once the codec is loaded and ("done", index, result)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it stops the workers
    _die_with_parent()
    import bench.executors.worker

    images: dict[str, object] = {}
    try:
        conn.send(("ready", os.getpid(), bench.executors.worker.threads()))
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
