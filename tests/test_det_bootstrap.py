"""The det bootstrap re-accumulates COCO AP itself; with every image drawn once it must equal
faster-coco-eval, and its intervals must hold the point estimate and narrow with more images."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faster_coco_eval")

from bench.tasks.det.bootstrap import MatchTable, bootstrap_map, map_scores  # noqa: E402
from bench.tasks.det.metrics import coco_map  # noqa: E402


def _detections(seed: int, images: int, classes: int = 12):
    """Boxes of `classes - 2` classes (two never occur), jittered true positives, random false ones."""
    rng = np.random.default_rng(seed)
    gt, dt = [], []
    for _ in range(images):
        n = int(rng.integers(0, 9))
        corner = rng.uniform(0, 150, (n, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(4, 40, (n, 2))], 1)
        labels = rng.integers(0, classes - 2, n)
        gt.append(((217, 181), boxes, labels))
        extra = int(rng.integers(0, 60))
        found = np.concatenate([boxes + rng.normal(0, 2.5, boxes.shape), rng.uniform(0, 170, (extra, 4))])
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)
        scores = rng.uniform(0, 1, len(found))
        dt.append((found, scores, np.concatenate([labels, rng.integers(0, classes, extra)])))
    return gt, dt


@pytest.mark.parametrize("seed", range(4))
def test_unit_weights_reproduce_faster_coco_eval(seed):
    gt, dt = _detections(seed, images=20)
    names = [f"c{k}" for k in range(12)]
    reference = coco_map(gt, dt, names)
    map50, map5095 = map_scores(MatchTable(gt, dt, 12).average_precision(np.ones((1, 20))))
    assert map50[0] == pytest.approx(reference["map50"], abs=1e-4)
    assert map5095[0] == pytest.approx(reference["map50_95"], abs=1e-4)


def test_interval_holds_the_estimate_and_narrows_with_more_images():
    names = [f"c{k}" for k in range(12)]
    widths = []
    for images in (10, 60):
        gt, dt = _detections(7, images)
        point = coco_map(gt, dt, names)
        ci = bootstrap_map(gt, dt, 12, draws=300)
        assert ci["map50_lo"] <= point["map50"] <= ci["map50_hi"]
        assert ci["map50_95_lo"] <= point["map50_95"] <= ci["map50_95_hi"]
        widths.append(ci["map50_hi"] - ci["map50_lo"])
    assert widths[1] < widths[0]


def test_rows_keep_the_100_best_detections_per_class_which_is_all_coco_reads():
    from bench.tasks.det.metrics import top_per_class

    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 50, (250, 4))
    labels = np.r_[np.zeros(180, np.int64), np.ones(70, np.int64)]
    scores = rng.random(250)
    b, k, s = top_per_class(boxes, labels, scores)
    assert (k == 0).sum() == 100 and (k == 1).sum() == 70
    assert s[k == 0].min() >= np.sort(scores[:180])[-100]  # the best 100 of class 0
