"""Merging a run that trained part of a λ ladder into the committed checkpoint: every λ of either
survives, each with the weights that score the lower val R–D loss from real bytes, renumbered in
rate order, and the merged file codes like any checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("compressai")

from bench.datasets.phantom import open_phantom  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.train import codec as codec_training  # noqa: E402
from bench.train.merge import choose, matched, merge  # noqa: E402

TINY = {"N": 8, "M": 8, "steps": 6, "finetune_steps": 4, "lambdas": [0.05, 0.01], "val_every": 3, "crop": 64,
        "batch_size": 2, "threads": 1}


def test_choose_keeps_the_lower_val_loss_and_every_lambda():
    old = [{"lambda": 0.05, "val_loss_bytes": 1.0}]
    better = [{"lambda": 0.05, "val_loss_bytes": 0.9}, {"lambda": 0.1, "val_loss_bytes": 3.0}]
    assert choose(matched(old, better), [0.01, 0.05]) == \
        [(0.01, "old"), (0.05, "new"), (0.1, "new")]
    assert choose(matched(old, [{"lambda": 0.05, "val_loss_bytes": 1.1}]), [0.01, 0.05]) == [(0.01, "old"), (0.05, "old")]


def test_merged_checkpoint_holds_both_ladders_in_rate_order(tmp_path):
    from bench.checkpoints import load_checkpoint
    from bench.codecs.learned.compressai_codec import MBT2018Mean

    data = open_phantom("mr8")
    old, new, out = tmp_path / "old.safetensors", tmp_path / "new.safetensors", tmp_path / "merged.safetensors"
    codec_training.train_codec("mbt2018-mean", data, old, TINY, show_progress=False)
    codec_training.train_codec("mbt2018-mean", data, new, {**TINY, "lambdas": [0.1, 0.05], "finetune_steps": 3}, init=old,
                               show_progress=False)
    text = merge(old, new, out, data)
    assert "(new point)" in text and "λ 0.01: old" in text and "λ 0.1: new" in text
    old_state, old_m = load_checkpoint(old)
    new_state, new_m = load_checkpoint(new)
    state, manifest = load_checkpoint(out, data.fingerprint)
    assert [p["lambda"] for p in manifest["rate_points"]] == [0.01, 0.05, 0.1]
    assert {k.split(".")[0] for k in state} == {"p0", "p1", "p2"}
    same = [k for k in state if k.startswith("p0.")]
    assert all(np.array_equal(state[k].numpy(), old_state[k].numpy()) for k in same)  # only the old run has λ 0.01
    assert all(np.array_equal(state["p2." + k[3:]].numpy(), new_state["p1." + k[3:]].numpy()) for k in same)  # λ 0.1: new only
    middle_from_old = 1 in manifest.get("kept_points", {}).get("points", [])  # λ 0.05: whichever scored lower
    middle = ("p1.", old_state) if middle_from_old else ("p0.", new_state)
    assert all(np.array_equal(state["p1." + k[3:]].numpy(), middle[1][middle[0] + k[3:]].numpy()) for k in same)
    assert manifest["kept_points"]["points"] == ([0, 1] if middle_from_old else [0])
    assert manifest["rate_points"][2]["val_loss_bytes"] == pytest.approx(new_m["rate_points"][1]["val_loss_bytes"])
    codec = MBT2018Mean(weights=str(out))  # the merged file codes at its new top point
    codec.for_dataset(data.name, data.fingerprint)
    image = data.split("test")[0].image
    decoded = codec.decode(codec.encode(image, 2, 8))
    assert decoded.shape == image.shape


def test_merge_refuses_another_shape(tmp_path):
    data = open_phantom("mr8")
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    codec_training.train_codec("mbt2018-mean", data, a, {**TINY, "lambdas": [0.01]}, show_progress=False)
    codec_training.train_codec("mbt2018-mean", data, b, {**TINY, "lambdas": [0.01], "N": 16}, show_progress=False)
    with pytest.raises(BenchError, match="N=8.*N=16"):
        merge(a, b, tmp_path / "m.safetensors", data)
