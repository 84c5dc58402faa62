"""Codec training: a tiny λ ladder on phantom data, honest bytes in the manifest, and a run cut
in the middle and resumed ends exactly where an uncut run ends."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("compressai")

from bench.datasets.phantom import open_phantom  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.train import codec as codec_training  # noqa: E402

TINY = {"N": 8, "M": 8, "steps": 6, "finetune_steps": 4, "lambdas": [0.05, 0.01], "val_every": 3, "crop": 64,
        "batch_size": 2, "threads": 1}


def _rows(path):
    with path.open(newline="") as fh:
        return [{k: v for k, v in r.items() if k not in ("elapsed_s", "val_s")} for r in csv.DictReader(fh)]  # timings differ


def test_ladder_writes_every_rate_point_lowest_rate_first(tmp_path):
    from bench.checkpoints import load_checkpoint

    out = tmp_path / "mbt.safetensors"
    manifest = codec_training.train_codec("mbt2018-mean", open_phantom("mr8"), out, TINY, show_progress=False)
    points = manifest["rate_points"]
    assert [p["lambda"] for p in points] == [0.01, 0.05] and [p["steps"] for p in points] == [4, 6]
    for p in points:  # real bytes, with the likelihood estimate beside them
        assert p["val_bpp"] > 0 and p["val_bpp_estimate"] > 0 and p["val_psnr_decoded"] > 0
    state, stored = load_checkpoint(out, open_phantom("mr8").fingerprint)
    assert stored["arch"] == "mbt2018-mean" and {k.split(".")[0] for k in state} == {"p0", "p1"}
    assert len(_rows(out.with_suffix(".csv"))) == 10


def test_cut_and_resumed_run_equals_an_uncut_one(tmp_path, monkeypatch):
    from bench.checkpoints import load_checkpoint

    data = open_phantom("mr8")
    whole = tmp_path / "whole" / "c.safetensors"
    codec_training.train_codec("bmshj2018-hyperprior", data, whole, TINY, show_progress=False)

    cut = tmp_path / "cut" / "c.safetensors"
    real_validate = codec_training.validate
    calls = {"n": 0}

    def dying_validate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # inside the second rate point, after a saved state
            raise KeyboardInterrupt
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(codec_training, "validate", dying_validate)
    with pytest.raises(KeyboardInterrupt):
        codec_training.train_codec("bmshj2018-hyperprior", data, cut, {**TINY, "checkpoint_every_s": 0}, show_progress=False)
    assert not cut.exists() and cut.with_name("c.resume.pt").is_file()
    monkeypatch.setattr(codec_training, "validate", real_validate)
    codec_training.train_codec("bmshj2018-hyperprior", data, cut, {**TINY, "checkpoint_every_s": 0}, resume=True,
                               show_progress=False)
    a, _ = load_checkpoint(whole)
    b, _ = load_checkpoint(cut)
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    assert _rows(whole.with_suffix(".csv")) == _rows(cut.with_suffix(".csv"))


def test_resume_refuses_another_configuration_and_unknown_options(tmp_path):
    data = open_phantom("mr8")
    out = tmp_path / "c.safetensors"
    codec_training.train_codec("mbt2018-mean", data, out, TINY, show_progress=False)
    with pytest.raises(BenchError, match="another configuration"):
        codec_training.train_codec("mbt2018-mean", data, out, {**TINY, "N": 16}, resume=True, show_progress=False)
    with pytest.raises(BenchError, match="unknown option 'gamma'"):
        codec_training.train_codec("mbt2018-mean", data, out, {"gamma": 1}, show_progress=False)
