"""The det bootstrap re-accumulates COCO AP itself; with every image drawn once it must equal
faster-coco-eval, and its intervals must hold the point estimate and narrow with more images."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faster_coco_eval")

from bench.analysis.coco import MatchTable, map_scores  # noqa: E402
from bench.analysis.curves import draws, interval  # noqa: E402
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
        map50, map5095 = map_scores(MatchTable(gt, dt, 12).average_precision(draws(images, 300)))
        (lo50, hi50), (lo, hi) = interval(map50), interval(map5095)
        assert lo50 <= point["map50"] <= hi50
        assert lo <= point["map50_95"] <= hi
        widths.append(hi50 - lo50)
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


def test_every_draw_reads_the_recall_points_exactly_as_coco_does():
    """Each draw's AP equals COCO's accumulate run on that draw alone (searchsorted of the 101
    recall points into its own recall row). Counts with recall landing exactly on a point (3 of
    10 boxes found: 0.3) are where the old offset-and-search version read one point too many."""
    from bench.analysis.coco import IOU_THRESHOLDS, RECALL_POINTS

    gt, dt = _detections(3, images=30)
    table = MatchTable(gt, dt, 12)
    rng = np.random.default_rng(1)
    weights = rng.multinomial(30, np.full(30, 1 / 30), size=40).astype(float)
    ap = table.average_precision(weights, chunk=16)
    checked = 0
    for b, w in enumerate(weights):
        for k, (images, tp, n_gt) in enumerate(table.classes):
            npos = w @ n_gt
            if npos == 0:
                assert np.isnan(ap[b, k]).all()
                continue
            for t in range(len(IOU_THRESHOLDS)):
                tps = np.cumsum(w[images] * tp[t])
                fps = np.cumsum(w[images] * ~tp[t])
                recall = tps / npos
                precision = np.maximum.accumulate((tps / np.maximum(tps + fps, np.spacing(1)))[::-1])[::-1]
                found = np.searchsorted(recall, RECALL_POINTS, side="left")
                expected = np.mean([precision[i] if i < len(precision) else 0.0 for i in found])
                assert ap[b, k, t] == pytest.approx(expected, abs=1e-12)
                checked += 1
    assert checked > 1000


def test_matching_all_thresholds_at_once_is_cocos_greedy_scan_including_ties():
    from bench.analysis.coco import IOU_THRESHOLDS, _iou, _match

    rng = np.random.default_rng(5)
    for _ in range(30):
        gt = rng.uniform(0, 60, (int(rng.integers(1, 8)), 2))
        gt = np.concatenate([gt, gt + rng.uniform(5, 30, gt.shape)], 1)
        gt = np.concatenate([gt, gt[:2]])  # duplicate boxes: equal IoU, COCO keeps the later one
        dt = np.concatenate([gt + rng.normal(0, 3, gt.shape), rng.uniform(0, 80, (5, 4))])
        dt[:, 2:] = np.maximum(dt[:, 2:], dt[:, :2] + 1)
        ious = _iou(dt, gt)
        expected = np.zeros((len(IOU_THRESHOLDS), len(dt)), bool)
        for t, threshold in enumerate(IOU_THRESHOLDS):  # COCO's evaluateImg, box by box
            taken = np.zeros(len(gt), bool)
            for d in range(len(dt)):
                best, match = min(threshold, 1 - 1e-10), -1
                for g in range(len(gt)):
                    if taken[g] or ious[d, g] < best:
                        continue
                    best, match = ious[d, g], g
                if match >= 0:
                    taken[match] = True
                    expected[t, d] = True
        assert (_match(dt, gt) == expected).all()
