"""COCO mAP50 and mAP50-95 re-accumulated for re-weighted images: how analysis bootstraps mAP
(table intervals, BD-rate intervals) from the detections a results folder stores per row.

Why not re-run faster-coco-eval on each resampled split: one evaluation of a 24-image split
takes ~0.2 s, so 1000 draws for every codec × quality group would add minutes per group. The
matching of detections to ground truth is per image and class, so it is done once here,
exactly as COCO does it (area 'all', at most 100 detections per image and class, greedy
matching in score order to the unmatched box of highest IoU ≥ the threshold); every draw
then only re-weights images and re-accumulates precision/recall (101 recall points, the
precision envelope). `tests/test_det_bootstrap.py` checks that with every image drawn
once this equals faster-coco-eval's mAP50 and mAP50-95, and every draw COCO's own accumulation.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100


def _iou(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of xyxy boxes computed as COCO does, from x, y, w, h (areas w×h, no +1)."""
    dw, dh, gw, gh = dt[:, 2] - dt[:, 0], dt[:, 3] - dt[:, 1], gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]
    x1 = np.maximum(dt[:, None, 0], gt[None, :, 0])
    y1 = np.maximum(dt[:, None, 1], gt[None, :, 1])
    x2 = np.minimum((dt[:, 0] + dw)[:, None], (gt[:, 0] + gw)[None, :])
    y2 = np.minimum((dt[:, 1] + dh)[:, None], (gt[:, 1] + gh)[None, :])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (dw * dh)[:, None] + (gw * gh)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match(dt_boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """T×D true-positive flags of score-sorted detections against one image's boxes of one class:
    COCO's greedy matching, every threshold at once. In score order, a detection takes the
    untaken box of highest IoU at or above the threshold (the last such box on a tie, as COCO's
    scan in box order keeps replacing its best on equal IoU)."""
    tp = np.zeros((len(IOU_THRESHOLDS), len(dt_boxes)), bool)
    if not len(dt_boxes) or not len(gt_boxes):
        return tp
    ious = _iou(dt_boxes, gt_boxes)
    floor = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]
    taken = np.zeros((len(IOU_THRESHOLDS), len(gt_boxes)), bool)
    thresholds = np.arange(len(IOU_THRESHOLDS))
    last = len(gt_boxes) - 1
    for d in range(len(dt_boxes)):
        candidates = np.where(~taken & (ious[d][None, :] >= floor), ious[d][None, :], -1.0)  # T×G
        box = last - np.argmax(candidates[:, ::-1], axis=1)  # the last box of highest IoU
        hit = candidates[thresholds, box] >= 0
        taken[thresholds[hit], box[hit]] = True
        tp[hit, d] = True
    return tp


class MatchTable:
    """Per class: detection scores, their image, T×D match flags, and ground-truth counts per image."""

    def __init__(self, gt: Sequence, dt: Sequence, num_classes: int) -> None:
        self.num_images = len(gt)
        self.classes = []
        for k in range(num_classes):
            scores, images, flags = [], [], []
            n_gt = np.zeros(self.num_images)
            for i, ((_, g_boxes, g_labels), (d_boxes, d_scores, d_labels)) in enumerate(zip(gt, dt)):
                g = np.asarray(g_boxes, np.float64).reshape(-1, 4)[np.asarray(g_labels).reshape(-1) == k]
                mask = np.asarray(d_labels).reshape(-1) == k
                d = np.asarray(d_boxes, np.float64).reshape(-1, 4)[mask]
                s = np.asarray(d_scores, np.float64).reshape(-1)[mask]
                order = np.argsort(-s, kind="mergesort")[:MAX_DETS]
                n_gt[i] = len(g)
                scores.append(s[order])
                images.append(np.full(len(order), i))
                flags.append(_match(d[order], g))
            s = np.concatenate(scores)
            order = np.argsort(-s, kind="mergesort")  # COCO's accumulate: stable sort over images in order
            tp = np.concatenate(flags, axis=1)[:, order]
            # Detections ranked after the last true positive (at any IoU threshold) add no recall and
            # only lower precision, so no draw's AP depends on them: dropping them is exact, and
            # usually removes most of the low-score tail.
            hits = np.flatnonzero(tp.any(axis=0))
            keep = hits[-1] + 1 if len(hits) else 0
            self.classes.append((np.concatenate(images)[order][:keep], tp[:, :keep], n_gt))

    def average_precision(self, weights: np.ndarray, chunk: int = 1000) -> np.ndarray:
        """B×K×T AP for B image-weight vectors (B×N counts); NaN where a class has no ground truth.
        Draws go through in chunks, so the B×T×G blocks stay small."""
        weights = np.atleast_2d(np.asarray(weights, np.float64))
        out = np.full((len(weights), len(self.classes), len(IOU_THRESHOLDS)), np.nan)
        for k, (images, tp, n_gt) in enumerate(self.classes):
            hits = _hit_columns(tp)
            for start in range(0, len(weights), chunk):
                out[start:start + chunk, k] = _class_ap(weights[start:start + chunk], images, hits, n_gt)
        return out


def _hit_columns(tp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T×G ranks of each threshold's true positives (padded with its last one) and a T×G mask of
    the real ones. Only they move recall, and the precision envelope at a true positive is the
    best precision at any true positive ranked after it (precision falls at every false one), so
    the AP reads nothing else: G is the true positives, a few per image, not the ranked list."""
    counts = tp.sum(axis=1)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    columns = np.zeros((tp.shape[0], width), np.int64)
    real = np.zeros((tp.shape[0], width), bool)
    for t, row in enumerate(tp):
        found = np.flatnonzero(row)
        if len(found):
            columns[t] = np.r_[found, np.full(width - len(found), found[-1])]
            real[t, :len(found)] = True
    return columns, real


def _class_ap(weights: np.ndarray, images: np.ndarray, hits: tuple[np.ndarray, np.ndarray], n_gt: np.ndarray) -> np.ndarray:
    """B×T AP of one class, as COCO accumulates it: precision and recall down the ranked
    detections, the precision envelope, read at the 101 recall points. Weights are counts, so
    the running sums are exact."""
    columns, real = hits
    npos = weights @ n_gt  # B
    result = np.full((len(weights), columns.shape[0]), np.nan)
    has = npos > 0
    if not has.any():
        return result
    if not len(images):  # nothing ranked up to a true positive
        result[has] = 0.0
        return result
    w = weights[has][:, images]  # B×D
    ranked = np.cumsum(w, axis=1)[:, columns]  # detections ranked up to each true positive, B×T×G
    tp_sum = np.cumsum(w[:, columns] * real, axis=2)
    precision = tp_sum / np.maximum(ranked, np.finfo(np.float64).eps)
    envelope = np.maximum.accumulate(precision[..., ::-1], axis=2)[..., ::-1]
    recall = tp_sum / npos[has][:, None, None]
    result[has] = _interpolated_ap(recall, envelope)
    return result


def _interpolated_ap(recall: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Mean precision envelope at the 101 recall points, for every row of B×T×G arrays at once.

    COCO reads, at each recall point, the envelope at the first detection whose recall reaches
    it; so the detection is read once for every point in (previous recall, its recall], and the
    AP is the envelope weighted by those counts (points above the last recall read 0)."""
    reached = np.searchsorted(RECALL_POINTS, recall, side="right")  # points at or below each recall
    read = np.diff(reached, axis=2, prepend=0)
    return (envelope * read).sum(axis=2) / len(RECALL_POINTS)


def map_scores(ap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mAP50, mAP50-95) per row of a B×K×T AP array, over classes with ground truth."""
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(ap[:, :, 0], axis=1), np.nanmean(np.nanmean(ap, axis=2), axis=1)
