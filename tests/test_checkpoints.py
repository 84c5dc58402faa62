"""A task network trained on other data is never used silently."""

from __future__ import annotations

import json

import pytest

from bench.checkpoints import stale_reason
from bench.datasets.phantom import open_phantom
from bench.errors import BenchError
from bench.runner import RunConfig, plan
from bench.tasks.seg.task import SegmentationTask


def test_stale_checkpoint_is_not_supported_and_refused_when_asked(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "seg-phantom.pt").write_bytes(b"not loaded by supports()")
    (tmp_path / "seg-phantom.json").write_text(json.dumps({"dataset_fingerprint": "0123456789abcdef"}))
    dataset = open_phantom()
    reason = SegmentationTask.supports(dataset)
    assert reason == stale_reason("seg", dataset)
    assert "0123456789abcdef" in reason and "bench train-task seg --data phantom" in reason
    with pytest.raises(BenchError):
        plan(RunConfig(codecs=["jpeg"], data="phantom", tasks=["seg"], limit=1))
    proc = cli("run", "--codecs", "jpeg", "--data", "phantom", "--limit", "1", "--quality", "50",
               "--out", str(tmp_path / "out"), "--quiet", env={"BENCH_WEIGHTS_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "skipping task 'seg'" in proc.stderr and "0123456789abcdef" in proc.stderr
