"""The default dataset: real slices, the documented classes, a split with no near-copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.datasets.colin27 import DET_CLASSES, MIN_BOX_PIXELS, SEG_CLASSES, open_colin27
from bench.errors import DatasetError

needs_data = pytest.mark.skipif(not Path("/usr/share/mricron/templates/ch2.nii.gz").is_file(),
                                reason="colin27-aal needs `apt-get install mricron-data`")


@pytest.fixture(scope="module")
def colin():
    return open_colin27()


@needs_data
def test_native_size_and_values(colin):
    assert {s.image.shape for s in colin.samples} == {(217, 181)}
    assert {s.image.dtype for s in colin.samples} == {np.dtype(np.uint8)} and colin.bit_depths == [8]
    assert colin.split_counts() == {"train": 70, "val": 12, "test": 24}


@needs_data
@pytest.mark.parametrize("held_out", ["test", "val"])
def test_no_held_out_slice_has_a_training_neighbour_within_3_mm(colin, held_out):
    z = {split: np.array([int(s.id[1:]) for s in colin.split(split)]) for split in ("train", "val", "test")}
    nearest = np.abs(z[held_out][:, None] - z["train"][None, :]).min(axis=1)
    assert nearest.min() >= 3
    others = set().union(*(set(z[s]) for s in z if s != held_out))
    assert not set(z[held_out]) & others


@needs_data
def test_datasets_show_reports_the_gaps(colin):
    from bench.datasets.show import describe

    assert describe(colin)["split_gaps_mm"] == {"train-val": 3.0, "train-test": 3.0, "val-test": 3.0}


@needs_data
def test_detection_test_split_is_big_enough_to_rank_codecs(colin):
    test = colin.split("test")
    assert sum(len(s.boxes) for s in test) >= 150
    assert sum(len(s.boxes) > 0 for s in test) >= 15


@needs_data
def test_every_class_appears_in_every_split(colin):
    for split in ("train", "val", "test"):
        seg = np.bincount(np.concatenate([s.mask.ravel() for s in colin.split(split)]), minlength=len(SEG_CLASSES))
        det = np.bincount(np.concatenate([s.labels for s in colin.split(split)]), minlength=len(DET_CLASSES))
        assert (seg > 0).all() and (det > 0).all(), split


@needs_data
def test_boxes_lie_inside_and_cover_enough_pixels(colin):
    for s in colin.samples:
        if len(s.boxes):
            assert (s.boxes[:, :2] >= 0).all() and (s.boxes[:, 2] <= 181).all() and (s.boxes[:, 3] <= 217).all()
            areas = (s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1])
            assert (areas >= MIN_BOX_PIXELS).all()


def test_missing_templates_say_how_to_get_them(tmp_path):
    with pytest.raises(DatasetError) as info:
        open_colin27(str(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "ch2.nii.gz") in message and "apt-get install mricron-data" in message and "--data phantom" in message
