"""Progress that shows wherever the output goes: rich bars on a terminal; elsewhere (a log file,
CI, nohup) a plain line every `PLAIN_EVERY_S` seconds and one at the end, with done/total, rate
and ETA. Rich draws nothing live when stderr is not a terminal, so a redirected cold run used to
print nothing for minutes. A heartbeat thread repeats the line when one step outlasts the period
(a report's BD-rate figure can take a minute), so a log is never silent for longer."""

from __future__ import annotations

import sys
import threading
import time

PLAIN_EVERY_S = 30.0


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class _Task:
    def __init__(self, description: str, total: float, completed: float, fields: dict) -> None:
        self.description, self.total, self.completed, self.fields = description, total, completed, fields
        self.start_completed, self.started = completed, time.monotonic()


class _PlainConsole:
    """What callers ask of `Progress.console`: not a terminal, and a print that goes to the stream."""

    is_terminal = False

    def __init__(self, stream) -> None:
        self.stream = stream

    def print(self, *parts, **_) -> None:
        print(*parts, file=self.stream, flush=True)


class PlainProgress:
    """The part of `rich.progress.Progress` this project calls, as plain lines on a stream."""

    def __init__(self, unit: str = "", every: float = PLAIN_EVERY_S, stream=None, disable: bool = False) -> None:
        self.unit, self.every, self.stream, self.disable = unit, every, stream or sys.stderr, disable
        self.tasks: list[_Task] = []
        self._last = time.monotonic()
        self.console = _PlainConsole(self.stream)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = None if disable or every <= 0 else threading.Thread(target=self._beat, daemon=True, name="progress-heartbeat")

    def __enter__(self):
        if self._heartbeat:
            self._heartbeat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._heartbeat and self._heartbeat.is_alive():
            self._heartbeat.join()
        if not exc[0]:
            for i in range(len(self.tasks)):
                self._line(i)

    def _beat(self) -> None:
        """Repeat the newest task's line whenever `every` seconds pass without one."""
        while not self._stop.wait(max(0.05, self.every - (time.monotonic() - self._last))):
            if self.tasks and time.monotonic() - self._last >= self.every:
                self._line(len(self.tasks) - 1)

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **fields) -> int:
        self.tasks.append(_Task(description, float(total or 0), float(completed), fields))
        return len(self.tasks) - 1

    def update(self, task_id: int, advance: float | None = None, completed: float | None = None,
               description: str | None = None, total: float | None = None, **fields) -> None:
        task = self.tasks[task_id]
        task.completed = float(completed) if completed is not None else task.completed + float(advance or 0)
        task.description = description if description is not None else task.description
        task.total = float(total) if total is not None else task.total
        task.fields.update(fields)
        if time.monotonic() - self._last >= self.every:
            self._line(task_id)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _line(self, task_id: int) -> None:
        with self._lock:
            self._last = time.monotonic()
            if not self.disable:
                self._print(self.tasks[task_id])

    def _print(self, t: _Task) -> None:
        elapsed = time.monotonic() - t.started
        rate = (t.completed - t.start_completed) / elapsed if elapsed > 0 else 0.0
        left = (t.total - t.completed) / rate if rate > 0 else float("nan")
        if t.fields.get("eta_s") is not None:  # the caller knows better (a time-budgeted training run)
            left = float(t.fields["eta_s"])
        share = f" ({100 * t.completed / t.total:.0f}%)" if t.total else ""
        eta = f" · ETA {_duration(left)}" if left == left and t.completed < t.total else ""
        info = f" · {t.fields['info']}" if t.fields.get("info") else ""
        print(f"{t.description}: {t.completed:.0f}/{t.total:.0f}{share} · {rate:.2f} {self.unit or 'items'}/s"
              f" · {_duration(elapsed)} elapsed{eta}{info}", file=self.stream, flush=True)


def progress_bars(*columns, disable: bool = False, unit: str = "", **options):
    """A rich `Progress` with these columns on a terminal, else a `PlainProgress`."""
    from rich import get_console
    from rich.progress import Progress

    if not disable and not get_console().is_terminal:  # where rich would draw: stdout
        return PlainProgress(unit=unit)
    return Progress(*columns, disable=disable, **options)


class Steps:
    """Progress of a job made of a known number of unequal steps (the figures and tables of a
    report): `with Steps("report", 12) as step: ...; step("rate_dice")` after each one. A bar on a
    terminal, plain lines elsewhere; `disable` for callers that must stay silent (tests, `--quiet`)."""

    def __init__(self, description: str, total: int, disable: bool = False) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

        self.description = description
        self.progress = progress_bars(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                      disable=disable, transient=True, unit="steps")
        self.task = None
        self.total = total

    def __enter__(self) -> "Steps":
        self.progress.__enter__()
        self.task = self.progress.add_task(self.description, total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, done: str) -> None:
        """One step finished; `done` names it."""
        self.progress.update(self.task, advance=1, description=f"{self.description}: {done}")
