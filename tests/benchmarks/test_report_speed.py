"""`bench report` on the default reference results (results/reference/colin27-aal: 13 codecs,
24 test slices, seg and det, 1000 bootstrap draws): the wall time of `write_report` in this
process, figures and tables included. Issue 28 asked for a 5× faster report; the before and
after are in the note (341.7 s before, 45.5 s after on a Zen 3 core, through the CLI). Reported
here, not asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "reference" / "colin27-aal"


def test_report_on_the_default_results(benchmark, tmp_path):
    pytest.importorskip("pyarrow")
    from bench.analysis.report import write_report

    counter = iter(range(100))
    html, _ = benchmark.pedantic(lambda: write_report(REFERENCE, tmp_path / f"report-{next(counter)}"), rounds=1, iterations=1)
    assert html.stat().st_size > 100_000  # figures inlined
