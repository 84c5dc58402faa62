"""The seg network's inference choice: flip TTA (twice the cost of every cell) must find at least
two more val lesions than the best setting without it; Dice-selected networks keep the old rule;
`bench.train.reselect` re-chooses a shipped network's setting without touching its weights."""

from __future__ import annotations

import json

import pytest

from bench.errors import BenchError
from bench.tasks.seg.train import pick_inference


def _row(flip: bool, px: int, val: float, dice: float = 0.5) -> dict:
    return {"flip_tta": flip, "min_class_pixels": px, "figure": "seg_sensitivity", "val": val, "val_dice": dice}


def test_flip_tta_must_find_two_more_lesions_than_the_best_setting_without_it():
    one_of_310 = 1 / 310
    table = [_row(False, 0, 0.24839), _row(False, 10, 0.24194), _row(True, 0, 0.25161), _row(True, 10, 0.24516)]
    assert pick_inference(table, one_of_310) == {"flip_tta": False, "min_class_pixels": 0}  # one lesion more: not worth 2x
    table[2]["val"] = round(0.24839 + 2 * one_of_310, 5)
    assert pick_inference(table, one_of_310) == {"flip_tta": True, "min_class_pixels": 0}


def test_a_dice_selected_network_keeps_the_plain_maximum_with_the_simplest_on_ties():
    table = [_row(False, 0, 0.70848), _row(False, 100, 0.71102), _row(True, 0, 0.71259), _row(True, 100, 0.71483)]
    assert pick_inference(table, 0.0) == {"flip_tta": True, "min_class_pixels": 100}
    tie = [_row(False, 0, 0.7, 0.6), _row(True, 0, 0.7, 0.6)]
    assert pick_inference(tie, 0.0) == {"flip_tta": False, "min_class_pixels": 0}


def test_reselect_rewrites_the_choice_and_figures_but_not_the_weights(tmp_path):
    pytest.importorskip("torch")
    from safetensors.numpy import load_file

    from bench.checkpoints import find_checkpoint
    from bench.datasets.colin27 import open_colin27
    from bench.train.reselect import main

    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    shipped = find_checkpoint("seg", data.name)
    out = tmp_path / shipped.name
    assert main([str(shipped), "--data", data.name, "--out", str(out)]) == 0
    before, after = json.loads(shipped.with_suffix(".json").read_text()), json.loads(out.with_suffix(".json").read_text())
    assert after["inference"] == before["inference"]  # Dice-selected: the rule did not change for it
    assert after["metrics"]["test"]["dice"] == pytest.approx(before["metrics"]["test"]["dice"], abs=2e-4)
    assert after["reselected"]["previous"]["inference"] == before["inference"] and "bench.train.reselect" in after["reselected"]["command"]
    a, b = load_file(str(shipped)), load_file(str(out))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() and a[k].dtype == b[k].dtype for k in a)


def test_reselect_refuses_what_is_not_a_segmentation_checkpoint(tmp_path, capsys):
    from bench.train.reselect import main

    assert main([str(tmp_path / "missing.safetensors"), "--data", "phantom"]) == 1
    assert "reselect: no checkpoint at" in capsys.readouterr().err
