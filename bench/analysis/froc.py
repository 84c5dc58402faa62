"""Lesion sensitivity re-weighted by image: how analysis bootstraps the FROC figures (table and
BD-rate intervals) from the boxes a results folder stores per row. Detections are matched to
lesions once (`bench.tasks.lesion_metrics.froc`, the task's own rule); every draw re-counts."""

from __future__ import annotations

import numpy as np

from bench.tasks.lesion_metrics import froc


class FrocTable:
    """Detections matched to lesions once per image; `sensitivity` re-weights images (B×N counts).

    Detections scoring below the point where the unweighted curve passes `TAIL` false positives per
    image are dropped: no resampled curve comes back under 1 FP/image from there (a bootstrap draw
    would need a few images to hold ~4× the split's false-positive density), and they are most of a
    conf ≥ 0.001 detector's output."""

    TAIL = 4.0

    def __init__(self, gt_boxes: list[np.ndarray], det_boxes: list[np.ndarray], det_scores: list[np.ndarray]) -> None:
        self.n_lesions = np.array([len(np.asarray(g).reshape(-1, 4)) for g in gt_boxes], np.float64)
        self.curve = froc(gt_boxes, det_boxes, det_scores)
        score, image, tp = [], [], []
        for i, (best, false) in enumerate(zip(self.curve.lesion_scores, self.curve.false_scores)):
            found = best[np.isfinite(best)]
            score += [*found, *false]
            image += [i] * (len(found) + len(false))
            tp += [True] * len(found) + [False] * len(false)
        order = np.argsort(-np.asarray(score), kind="mergesort")
        score, image, tp = np.asarray(score)[order], np.asarray(image, np.int64)[order], np.asarray(tp, bool)[order]
        fp_per_image = np.cumsum(~tp) / max(len(gt_boxes), 1)
        keep = int(np.searchsorted(fp_per_image, self.TAIL, side="right"))
        self.score, self.image, self.tp = score[:keep], image[:keep], tp[:keep]
        self.last = np.r_[self.score[1:] != self.score[:-1], True] if keep else np.zeros(0, bool)

    def sensitivity(self, weights: np.ndarray, fp_rate: float, chunk: int = 50) -> np.ndarray:
        """B sensitivities at `fp_rate` false positives per image, one per image-weight row."""
        weights = np.atleast_2d(np.asarray(weights, np.float64))
        out = np.zeros(len(weights))
        if not len(self.score):
            return out
        for start in range(0, len(weights), chunk):
            w = weights[start:start + chunk]
            lesions, images = w @ self.n_lesions, w.sum(axis=1)
            at = w[:, self.image]
            found = np.cumsum(np.where(self.tp, at, 0.0), axis=1)[:, self.last]
            false = np.cumsum(np.where(self.tp, 0.0, at), axis=1)[:, self.last]
            with np.errstate(invalid="ignore", divide="ignore"):
                sens = np.where(false <= fp_rate * images[:, None] + 1e-9, found / lesions[:, None], 0.0)
            out[start:start + chunk] = np.nan_to_num(sens.max(axis=1, initial=0.0))
        return out
