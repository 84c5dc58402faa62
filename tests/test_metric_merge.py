"""Metrics declare their state and merge (issue 27): images scored by two accumulators and merged
give exactly what one accumulator over all of them gives, for seg and det; a metric set up
differently is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.datasets.base import Sample


def _same(a, b) -> None:
    assert a.per_image == b.per_image
    assert set(a.summary) == set(b.summary)
    for key, value in a.summary.items():
        assert (math.isnan(value) and math.isnan(b.summary[key])) if isinstance(value, float) and math.isnan(value) else value == b.summary[key], key


def test_two_seg_accumulators_merged_score_as_one():
    from bench.tasks.seg.metrics import SegMetric

    rng = np.random.default_rng(0)
    samples = [Sample(f"s{i}", np.zeros((24, 24), np.uint8), 8, mask=rng.integers(0, 3, (24, 24)).astype(np.uint8)) for i in range(6)]
    preds = [np.where(rng.random((24, 24)) < 0.7, s.mask, rng.integers(0, 3, (24, 24))).astype(np.uint8) for s in samples]
    names = ["background", "organ", "lesion"]
    whole = SegMetric(names, hd95=False)
    whole.update(preds, samples)
    first, second = SegMetric(names, hd95=False), SegMetric(names, hd95=False)
    first.update(preds[:4], samples[:4])
    second.update(preds[4:], samples[4:])
    _same(first.merge(second).compute(), whole.compute())
    with pytest.raises(ValueError, match="set up differently"):
        SegMetric(names[:2], hd95=False).merge(second)


def test_two_det_accumulators_merged_score_as_one():
    pytest.importorskip("faster_coco_eval")
    from bench.tasks.det.metrics import DetectionMetric

    rng = np.random.default_rng(1)
    samples, preds = [], []
    for i in range(8):
        corner = rng.uniform(0, 60, (3, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(5, 30, (3, 2))], 1).astype(np.float32)
        labels = rng.integers(0, 2, 3)
        samples.append(Sample(f"d{i}", np.zeros((100, 100), np.uint8), 8, boxes=boxes, labels=labels))
        found = np.concatenate([boxes + rng.normal(0, 2, boxes.shape), rng.uniform(0, 90, (4, 4))]).astype(np.float32)
        found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)
        preds.append({"boxes": found, "scores": rng.random(7).astype(np.float32), "labels": np.r_[labels, rng.integers(0, 2, 4)]})
    whole = DetectionMetric(["a", "b"])
    whole.update(preds, samples)
    first, second = DetectionMetric(["a", "b"]), DetectionMetric(["a", "b"])
    first.update(preds[:3], samples[:3])
    second.update(preds[3:], samples[3:])
    _same(first.merge(second).compute(), whole.compute())
    assert whole.compute().summary["map50"] > 0
    first.reset()
    assert first._gt == [] and first._dt == [] and first._ids == []
