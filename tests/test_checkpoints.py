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


def _state():
    import torch

    torch.manual_seed(0)
    return {"conv.weight": torch.randn(4, 3, 3, 3), "bn.running_var": torch.rand(4) + 0.5,
            "bn.num_batches_tracked": torch.tensor(7), "huge": torch.full((2,), 1e6)}


def test_safetensors_checkpoints_are_float16_on_disk_and_float32_on_load(tmp_path):
    import torch
    from safetensors import safe_open

    from bench.checkpoints import as_stored, load_checkpoint, save_checkpoint

    state, manifest = _state(), {"task": "seg", "dataset_fingerprint": "abc"}
    path = save_checkpoint(tmp_path / "seg-x.safetensors", state, manifest)
    with safe_open(str(path), framework="pt") as fh:
        stored = {k: fh.get_tensor(k) for k in fh.keys()}
    assert stored["conv.weight"].dtype == torch.float16 and stored["bn.num_batches_tracked"].dtype == torch.int64
    assert stored["huge"].dtype == torch.float32  # beyond float16's range: kept whole
    loaded, read_manifest = load_checkpoint(path, "abc")
    assert read_manifest == manifest and json.loads(path.with_suffix(".json").read_text()) == manifest
    assert loaded["conv.weight"].dtype == torch.float32
    expected = as_stored(state)
    assert all(torch.equal(loaded[k], expected[k]) for k in state)
    assert (loaded["conv.weight"] - state["conv.weight"]).abs().max() < 2e-3


def test_legacy_pt_checkpoints_still_load_and_safetensors_wins_the_lookup(tmp_path, monkeypatch):
    import torch

    from bench.checkpoints import find_checkpoint, load_checkpoint, save_checkpoint

    state = _state()
    save_checkpoint(tmp_path / "seg-x.pt", state, {"task": "seg"})
    loaded, manifest = load_checkpoint(tmp_path / "seg-x.pt")
    assert manifest == {"task": "seg"} and all(torch.equal(loaded[k], state[k].float()) for k in state)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    assert find_checkpoint("seg", "x") == tmp_path / "seg-x.pt"
    save_checkpoint(tmp_path / "seg-x.safetensors", state, {"task": "seg"})
    assert find_checkpoint("seg", "x") == tmp_path / "seg-x.safetensors"


def test_unreadable_checkpoint_is_one_line(tmp_path):
    from bench.checkpoints import load_checkpoint

    bad = tmp_path / "seg-x.safetensors"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(BenchError, match="seg-x.safetensors is unreadable") as info:
        load_checkpoint(bad)
    assert "\n" not in str(info.value)
