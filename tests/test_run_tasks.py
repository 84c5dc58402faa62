"""The runner with the shipped task networks on the default data: the same scoring path as
training reported, a visible accuracy drop at a low rate, and task scores reused on rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.checkpoints import find_checkpoint
from bench.results import results_frame, summarize
from bench.runner import RunConfig, execute, plan

pytestmark = pytest.mark.skipif(not Path("/usr/share/mricron/templates/ch2.nii.gz").is_file(),
                                reason="colin27-aal needs `apt-get install mricron-data`")


def _manifest(task: str) -> dict:
    return json.loads(find_checkpoint(task, "colin27-aal").with_suffix(".json").read_text())


def test_seg_and_det_on_decoded_images(tmp_path, monkeypatch):
    config = RunConfig(codecs=["jpeg2000"], data="colin27-aal", tasks=["seg", "det"], qualities=[26],
                       cache_dir=str(tmp_path / "cache"), device="cpu")
    output = execute(plan(config), show_progress=False)
    results = results_frame(output.rows)
    summary = summarize(results, output.task_summaries).set_index("codec")
    reference, low = summary.loc["reference"], summary.loc["jpeg2000"]
    assert reference.dice == pytest.approx(_manifest("seg")["metrics"]["test"]["dice"], abs=1e-4)
    assert reference.map50 == pytest.approx(_manifest("det")["metrics"]["test"]["map50"], abs=1e-4)
    assert low.bpp < 0.15 and low.dice < reference.dice - 0.05 and low.map50 < reference.map50 - 0.05
    assert results.dice.notna().all() and {"miou", "map50_95"} <= set(summary.columns)
    assert not [c for c in summary.columns if c.endswith(("_lo", "_hi"))]  # point figures; intervals come from analysis

    from bench.tasks.base import Task

    monkeypatch.setattr(Task, "evaluate", lambda *a, **k: pytest.fail("task re-evaluated despite the cache"))
    again = execute(plan(config), show_progress=False)
    assert again.cells_computed == 0 and again.task_summaries == output.task_summaries
