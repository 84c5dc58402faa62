"""Fixtures of the speed benchmarks (`pytest tests/benchmarks --benchmark-only`).

Not part of the default test run (pyproject's `norecursedirs`). Helpers the benchmark files
share live in `speed_helpers.py`.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def colin27_or_reason():
    """(colin27-aal dataset, None) when mricron-data is installed, else (None, why not)."""
    from bench.datasets.colin27 import open_colin27
    from bench.errors import BenchError

    try:
        return open_colin27(), None
    except BenchError as exc:
        return None, str(exc)


@pytest.fixture(scope="session")
def colin27(colin27_or_reason):
    """The colin27-aal dataset (the packaged weights were trained on it), or skip with the reason."""
    data, why_not = colin27_or_reason
    if data is None:
        pytest.skip(why_not)
    return data


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The rates the benchmarks recorded (MP/s, img/s, overhead), one line each, after the timings."""
    from speed_helpers import RATES

    if RATES:
        terminalreporter.section("benchmark rates")
        width = max(len(name) for name, _, _ in RATES)
        for name, unit, rate in RATES:
            terminalreporter.write_line(f"{name:<{width}}  {rate:10.3f} {unit}")
