"""Editing the code that computes a score (or upgrading the library it calls) must recompute
that score: cached PSNR/MS-SSIM rows and cached task scores are keyed by a digest of their code."""

from __future__ import annotations

import pytest

from bench import versions
from bench.train.request import train_task  # noqa: E402
from bench.datasets.phantom import open_phantom
from bench.runner import RunConfig, execute, plan
from bench.tasks.base import Task, TrainConfig

TINY = {"base": 4, "steps_per_epoch": 1, "time_budget_s": None, "hd95_at_end": False, "threads": 1}


def _edit_source(monkeypatch, module: str) -> None:
    """What a developer's edit of `module` looks like to the cache: other source text."""
    real = versions._read_source
    monkeypatch.setattr(versions, "_read_source", lambda name: real(name) + (b"\n# edited\n" if name == module else b""))
    versions.code_version.cache_clear()


@pytest.fixture(autouse=True)
def fresh_versions():
    versions.code_version.cache_clear()
    yield
    versions.code_version.cache_clear()


@pytest.fixture(scope="module")
def seg_weights(tmp_path_factory):
    from bench.tasks.seg.task import SegmentationTask

    folder = tmp_path_factory.mktemp("weights")
    train_task(SegmentationTask, open_phantom("mr8"), TrainConfig(out=folder / "seg-phantom.safetensors", epochs=1,
                                                            batch_size=2, options=dict(TINY)))
    return folder


def _run(tmp_path, tasks=()):
    config = RunConfig(codecs=["jpeg"], data="phantom:mr8", tasks=list(tasks), qualities=[50], limit=2,
                       cache_dir=str(tmp_path / "cache"), device="cpu")
    return execute(plan(config), show_progress=False)


def test_editing_the_image_quality_code_recomputes_cells(tmp_path, monkeypatch):
    assert _run(tmp_path).cells_computed == 2
    assert _run(tmp_path).cells_computed == 0
    before = versions.quality_version()
    _edit_source(monkeypatch, "bench.quality")
    assert versions.quality_version() != before
    again = _run(tmp_path)
    assert again.cells_computed == 2 and again.cells_cached == 0


def test_a_library_upgrade_recomputes_cells(tmp_path, monkeypatch):
    assert _run(tmp_path).cells_computed == 2
    monkeypatch.setattr(versions, "_package_version", lambda name: "99.0" if name == "numpy" else "1")
    versions.code_version.cache_clear()
    assert _run(tmp_path).cells_computed == 2


@pytest.mark.parametrize("module", ["bench.tasks.seg.metrics", "bench.tasks.seg.predict", "bench.tasks.seg.task"])
def test_editing_the_segmentation_scoring_code_rescores(tmp_path, monkeypatch, seg_weights, module):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(seg_weights))
    first = _run(tmp_path, ["seg"])
    calls = []
    real_evaluate = Task.evaluate
    monkeypatch.setattr(Task, "evaluate", lambda self, *a, **k: calls.append(1) or real_evaluate(self, *a, **k))
    cached = _run(tmp_path, ["seg"])
    assert calls == [] and cached.task_summaries == first.task_summaries  # same code: scores reused
    _edit_source(monkeypatch, module)
    rescored = _run(tmp_path, ["seg"])
    assert len(calls) == 2  # reference and jpeg groups scored again
    assert rescored.cells_computed == 0  # the codec cells did not depend on the task code


def test_detection_scoring_code_is_in_its_version():
    from bench.tasks.det.task import DetectionTask

    assert {"bench.tasks.det.metrics", "bench.tasks.lesion_metrics"} <= set(DetectionTask.scoring_modules)
    assert "faster-coco-eval" in DetectionTask.scoring_packages
