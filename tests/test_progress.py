"""Progress where no terminal is: plain lines with done/total, rate and ETA, every so often and at
the end (a redirected cold run printed nothing for minutes)."""

from __future__ import annotations

import io

from bench.progress import PlainProgress, progress_bars


def test_plain_progress_prints_done_total_rate_and_eta_lines():
    stream = io.StringIO()
    with PlainProgress(unit="cells", every=0.0, stream=stream) as progress:
        task = progress.add_task("sweep", total=10, completed=2)
        for _ in range(4):
            progress.update(task, advance=1, description="jpeg 50")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5  # one per update (every=0) and the closing line
    assert lines[0].startswith("jpeg 50: 3/10 (30%)") and "cells/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("jpeg 50: 6/10 (60%)")


def test_a_caller_given_eta_replaces_the_step_forecast():
    """A time-budgeted training run's step total is a ceiling: its ETA is the budget left."""
    stream = io.StringIO()
    with PlainProgress(unit="steps", every=0.0, stream=stream) as progress:
        task = progress.add_task("train", total=3_000_000, eta_s=None)
        progress.update(task, advance=5, eta_s=5400.0)
    first = stream.getvalue().splitlines()[0]
    assert "ETA 1h30m" in first, first


def test_plain_progress_waits_between_lines_and_never_draws_when_disabled():
    stream = io.StringIO()
    with PlainProgress(every=3600, stream=stream) as progress:
        task = progress.add_task("train", total=100)
        for _ in range(50):
            progress.update(task, advance=1)
    assert stream.getvalue().count("\n") == 1 and "50/100" in stream.getvalue()  # only the closing line
    quiet = io.StringIO()
    with PlainProgress(every=0, stream=quiet, disable=True) as progress:
        progress.update(progress.add_task("x", total=2), advance=1)
    assert quiet.getvalue() == ""


def test_a_step_that_outlasts_the_period_still_prints_lines():
    import time

    stream = io.StringIO()
    with PlainProgress(unit="steps", every=0.2, stream=stream) as progress:
        task = progress.add_task("report", total=3)
        time.sleep(0.75)  # one long step, no update: the heartbeat speaks
        lines_during = stream.getvalue().count("\n")
        progress.update(task, advance=1)
    assert lines_during >= 2 and stream.getvalue().startswith("report: 0/3 (0%)")
    assert stream.getvalue().splitlines()[-1].startswith("report: 1/3 (33%)")


def test_a_redirected_run_gets_plain_progress():
    # pytest captures stdout, so rich sees no terminal here, as in a log file
    assert isinstance(progress_bars(disable=False), PlainProgress)
    assert not isinstance(progress_bars(disable=True), PlainProgress)
