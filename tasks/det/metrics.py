"""COCO-style mAP50 and mAP50-95 over a whole split, with faster-coco-eval.

Predictions and ground truth are accumulated image by image (`update`) and scored once
(`compute`), so a codec × quality group gets one mAP computed exactly like the reference's.
Per image we report how many boxes score ≥ 0.25 (`n_det`): mAP is a ranking over the
split and means nothing for one image. The image's detections and ground-truth boxes are kept
in the row too (`det_boxes`, `gt_boxes`: JSON, see `boxes_json`), so that analysis of a results
folder alone can re-weight images for the bootstrap of any statistic built on mAP: intervals
are analysis's job (`bench/analysis/coco.py` re-accumulates mAP for resampled images), so the
summary holds point figures only.

A one-class detector (lesions, nodules, polyps) is also read lesion by lesion, as a reader study
would: FROC `sensitivity` at 1 false positive per image and `sensitivity_fp05` at 0.5
(`tasks/lesion_metrics.py`). Per image, `lesions` and `found` (at the split's 1 FP/image
threshold); where the dataset records each lesion's size and contrast (`extra["lesions"]`), also
per bin (`lesions_small`, `found_small`, ...) and the summary's `sensitivity_<bin>`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from typing import Any, Sequence

import numpy as np

from bench.datasets.base import Sample
from bench.tasks.base import Metric, TaskScores

N_DET_CONF = 0.25


def _xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)


def coco_map(gt: list[tuple[tuple[int, int], np.ndarray, np.ndarray]], dt: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             class_names: Sequence[str]) -> dict[str, Any]:
    """mAP over images: gt[i] = ((H, W), boxes xyxy, labels), dt[i] = (boxes xyxy, scores, labels).

    Returns map50, map50_95 and per-class AP50 / AP50-95 (NaN for classes without ground truth).
    """
    from faster_coco_eval import COCO, COCOeval_faster

    images, annotations, results = [], [], []
    for i, ((h, w), boxes, labels) in enumerate(gt):
        images.append({"id": i + 1, "height": int(h), "width": int(w)})
        for box, label in zip(_xywh(boxes), np.asarray(labels).reshape(-1)):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(label) + 1,
                                "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0})
    for i, (boxes, scores, labels) in enumerate(dt):
        for box, score, label in zip(_xywh(boxes), np.asarray(scores).reshape(-1), np.asarray(labels).reshape(-1)):
            results.append({"image_id": i + 1, "category_id": int(label) + 1, "bbox": [float(v) for v in box],
                            "score": float(score)})
    nan = {"map50": math.nan, "map50_95": math.nan,
           "ap50_per_class": {c: math.nan for c in class_names}, "ap50_95_per_class": {c: math.nan for c in class_names}}
    if not annotations:
        return nan
    if not results:
        present = {a["category_id"] - 1 for a in annotations}
        zero = {c: (0.0 if k in present else math.nan) for k, c in enumerate(class_names)}
        return {"map50": 0.0, "map50_95": 0.0, "ap50_per_class": zero, "ap50_95_per_class": dict(zero)}
    categories = [{"id": k + 1, "name": str(c)} for k, c in enumerate(class_names)]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO({"images": images, "annotations": annotations, "categories": categories})
        found = truth.loadRes(results)
        evaluator = COCOeval_faster(truth, found, iouType="bbox", print_function=lambda *a, **k: None)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    precision = evaluator.eval["precision"]  # [IoU thresholds, recall, class, area, maxDets]
    per50, per5095 = {}, {}
    for k, name in enumerate(class_names):
        p_all = precision[:, :, k, 0, -1]
        p_50 = precision[0, :, k, 0, -1]
        per50[name] = float(p_50[p_50 > -1].mean()) if (p_50 > -1).any() else math.nan
        per5095[name] = float(p_all[p_all > -1].mean()) if (p_all > -1).any() else math.nan
    return {"map50": float(max(stats[1], 0.0)), "map50_95": float(max(stats[0], 0.0)),
            "ap50_per_class": per50, "ap50_95_per_class": per5095}


def boxes_json(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray | None = None) -> str:
    """[[x1, y1, x2, y2, label(, score)], ...] at 0.01 px and 1e-5 score: compact and exact enough."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    rows = [[*np.round(b, 2).tolist(), int(k)] + ([round(float(s), 5)] if scores is not None else [])
            for b, k, s in zip(boxes, np.asarray(labels).reshape(-1), np.asarray(scores if scores is not None else labels).reshape(-1))]
    return json.dumps(rows, separators=(",", ":"))


STORED_PER_CLASS = 100  # COCO's maxDets: no mAP (or its bootstrap) reads past the 100 best per image and class


def top_per_class(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `STORED_PER_CLASS` highest-scoring detections of each class (what a row keeps; a
    detector at conf 0.001 returns up to 300 per image, three times what any figure reads)."""
    boxes, labels, scores = np.asarray(boxes).reshape(-1, 4), np.asarray(labels).reshape(-1), np.asarray(scores).reshape(-1)
    keep = np.zeros(len(scores), bool)
    for k in np.unique(labels):
        mine = np.flatnonzero(labels == k)
        keep[mine[np.argsort(-scores[mine], kind="mergesort")[:STORED_PER_CLASS]]] = True
    return boxes[keep], labels[keep], scores[keep]


def parse_boxes(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes xyxy, labels, scores) from `boxes_json`; ground truth has no scores (all 1)."""
    rows = np.asarray(json.loads(text), np.float64)
    if not rows.size:
        return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0)
    scores = rows[:, 5] if rows.shape[1] > 5 else np.ones(len(rows))
    return rows[:, :4], rows[:, 4].astype(np.int64), scores


class DetectionMetric(Metric):
    """Accumulates `predict` outputs and the samples' boxes; `compute` scores the lot once."""

    states = ("_gt", "_dt", "_ids")

    def __init__(self, class_names: Sequence[str], lesions: dict[str, list[dict]] | None = None) -> None:
        self.class_names = list(class_names)
        self.lesions = lesions  # image id -> lesion records in box order (colin27-lesions), or None
        self.reset()

    def update(self, predictions: Sequence[dict[str, np.ndarray]], samples: Sequence[Sample]) -> None:
        if len(predictions) != len(samples):
            raise ValueError(f"{len(predictions)} predictions for {len(samples)} samples")
        for pred, sample in zip(predictions, samples):
            boxes = sample.boxes if sample.boxes is not None else np.zeros((0, 4), np.float32)
            labels = sample.labels if sample.labels is not None else np.zeros(0, np.int64)
            self._gt.append((sample.image.shape[:2], np.asarray(boxes), np.asarray(labels)))
            self._ids.append(sample.id)
            self._dt.append((np.asarray(pred["boxes"]), np.asarray(pred["scores"]), np.asarray(pred["labels"])))

    def compute(self) -> TaskScores:
        scores = coco_map(self._gt, self._dt, self.class_names)
        per_image = [{"n_det": float((np.asarray(s) >= N_DET_CONF).sum()), "det_boxes": boxes_json(*top_per_class(b, k, s)),
                      "gt_boxes": boxes_json(g_boxes, g_labels)}
                     for (b, s, k), (_, g_boxes, g_labels) in zip(self._dt, self._gt)]
        summary = {"map50": scores["map50"], "map50_95": scores["map50_95"]}
        if len(self.class_names) == 1:
            self._lesion_figures(per_image, summary)
        return TaskScores(per_image=per_image, summary=summary,
                          extra={"ap50_per_class": scores["ap50_per_class"], "ap50_95_per_class": scores["ap50_95_per_class"]})

    def _lesion_figures(self, per_image: list[dict], summary: dict) -> None:
        """FROC sensitivities and, per image, the lesions found at 1 FP/image."""
        from bench.tasks.lesion_metrics import lesion_figures

        figures, rows = lesion_figures([g for _, g, _ in self._gt], [d for d, _, _ in self._dt], [s for _, s, _ in self._dt],
                                       self._ids, self.lesions)
        summary.update(figures)
        for row, extra in zip(per_image, rows):
            row.update(extra)
