"""Segmentation figures: per-image Dice / IoU (/ HD95) and their dataset means (point figures:
intervals are analysis's job, bootstrapped over these per-image values by `bench.analysis`).

Definitions (class 0 is background, the others are foreground):
- Per image and class c: Dice = 2·TP / (2·TP + FP + FN), IoU = TP / (TP + FP + FN). A class absent
  from both the ground truth and the prediction is undefined on that image (NaN) and is skipped.
- Per image `dice` / `iou`: mean over the foreground classes defined on that image (present in the
  ground truth or the prediction). An image with no foreground in either scores 1.0 (nothing to miss).
- `dice_monai`: MONAI's `DiceMetric(include_background=False, ignore_empty=True)` reading,
  reported beside the headline `dice`. Only foreground classes present in the GROUND TRUTH count,
  so a class predicted on an image without it is skipped instead of scoring 0. Per image: the mean
  over those classes (NaN with no foreground); summary: the mean over images that have one, as
  MONAI's `aggregate()` reduces (classes first, then images).
- Per image `hd95` (only when MONAI is installed: `monai.metrics.compute_hausdorff_distance`, 95th
  percentile, in pixels): mean over foreground classes present in BOTH ground truth and prediction
  (a distance is undefined otherwise, so a missed class shows in Dice, not here); NaN if none.
- Summary `dice`, `iou`, `hd95`: mean over images (finite values).
- Summary `dice_<class>` / `iou_<class>`: mean over the images on which the class is defined.
- Summary `miou`: the mean over ALL classes, background included, of the IoU computed on the whole
  split's summed confusion matrix (as in the polyp papers, where mIoU averages background and polyp
  IoU); `fg_miou`: the same over the foreground classes only. Classes absent from the split's ground
  truth and predictions are skipped.
- Per image `lesion_dice` (one foreground class only: lesions, polyps, nodules): the mean over the
  image's ground-truth lesions (connected components) of each lesion's Dice against the predicted
  components touching it, a missed lesion scoring 0 (`tasks/lesion_metrics.lesion_dice`); NaN
  without a lesion. Summary: the mean over images with a lesion. A big
  lesion cannot hide a missed small one here, as it does in the pixel-pooled `dice`.
- `seg_sensitivity` / `seg_sensitivity_fp05` (one foreground class, predictions with their
  probability): the segmentation read as a detector, each predicted component a candidate
  scored by its highest probability, through the same FROC as the detector's `sensitivity`
  (`tasks/lesion_metrics.py`); per image its candidates and lesions
  (`seg_det_boxes`, `seg_gt_boxes`, JSON) so analysis can re-weight images.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from bench.datasets.base import Sample
from bench.errors import BenchError
from bench.tasks.base import Metric, TaskScores



@lru_cache(maxsize=1)
def hd95_backend():
    """MONAI's Hausdorff distance, or None when MONAI is not installed (HD95 is then left out)."""
    try:
        from monai.metrics import compute_hausdorff_distance
    except Exception:
        return None
    return compute_hausdorff_distance


def confusion(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """K×K counts, rows = ground truth class, columns = predicted class."""
    gt = np.asarray(gt, np.int64).ravel()
    pred = np.asarray(pred, np.int64).ravel()
    if gt.shape != pred.shape:
        raise BenchError(f"seg: mask has {gt.size} pixels but the prediction {pred.size}")
    return np.bincount(gt * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def class_scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class Dice and IoU from a confusion matrix; NaN where the class is in neither map."""
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
    return dice, iou


def _nanmean(values: np.ndarray, empty: float = math.nan) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else empty


def hd95_per_class(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """HD95 (pixels) of each foreground class present in both maps, NaN elsewhere; all NaN without MONAI."""
    out = np.full(num_classes - 1, np.nan)
    backend = hd95_backend()
    if backend is None:
        return out
    import torch

    both = [c for c in range(1, num_classes) if (gt == c).any() and (pred == c).any()]
    if not both:
        return out
    g = torch.from_numpy(np.stack([gt == c for c in both])[None].astype(np.float32))
    p = torch.from_numpy(np.stack([pred == c for c in both])[None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        distances = backend(p, g, include_background=True, percentile=95).numpy()[0]
    out[np.asarray(both) - 1] = distances
    return out


class SegMetric(Metric):
    """Accumulates per-image confusion matrices (and HD95); `compute` gives `TaskScores`."""

    states = ("matrices", "hd95", "lesion_dice", "candidates", "candidate_ids")  # (gt boxes, boxes, scores) per image in candidates

    def __init__(self, class_names: Sequence[str], hd95: bool | None = None, lesions: dict[str, list[dict]] | None = None) -> None:
        self.class_names = list(class_names)
        self.lesions = lesions  # image id -> lesion records in box order (colin27-lesions), for breakdowns
        self.num_classes = len(self.class_names)
        self.use_hd95 = (hd95_backend() is not None) if hd95 is None else (hd95 and hd95_backend() is not None)
        self.reset()

    def update(self, predictions: Any, samples: Sequence[Sample]) -> None:
        for pred, sample in zip(predictions, samples):
            probability = getattr(pred, "probability", None)
            if sample.mask is None:
                raise BenchError(f"seg: image {sample.id} has no mask to score against")
            pred = np.asarray(pred)
            if pred.shape != sample.mask.shape:
                raise BenchError(f"seg: prediction {pred.shape} and mask {sample.mask.shape} of {sample.id} differ in shape")
            self.matrices.append(confusion(sample.mask, pred, self.num_classes))
            if self.use_hd95:
                self.hd95.append(hd95_per_class(np.asarray(sample.mask), pred, self.num_classes))
            if self.num_classes == 2:
                from bench.tasks.lesion_metrics import lesion_dice

                self.lesion_dice.append(_nanmean(lesion_dice(np.asarray(sample.mask), pred)))
                if probability is not None:
                    from bench.tasks.lesion_metrics import candidates, mask_boxes

                    gt = np.asarray(sample.boxes, np.float64).reshape(-1, 4) if sample.boxes is not None else mask_boxes(sample.mask)
                    self.candidates.append((gt, *candidates(pred, probability)))
                    self.candidate_ids.append(sample.id)

    def per_class(self) -> tuple[np.ndarray, np.ndarray]:
        """Images × classes Dice and IoU arrays (NaN where undefined)."""
        scores = [class_scores(cm) for cm in self.matrices]
        k = self.num_classes
        dice = np.array([d for d, _ in scores]).reshape(-1, k)
        iou = np.array([i for _, i in scores]).reshape(-1, k)
        return dice, iou

    def compute(self) -> TaskScores:
        dice, iou = self.per_class()
        in_truth = np.array([cm.sum(1)[1:] > 0 for cm in self.matrices]).reshape(-1, self.num_classes - 1)
        per_image = []
        for i in range(len(self.matrices)):
            row = {"dice": _nanmean(dice[i, 1:], empty=1.0), "iou": _nanmean(iou[i, 1:], empty=1.0),
                   "dice_monai": _nanmean(dice[i, 1:][in_truth[i]])}
            if self.use_hd95:
                row["hd95"] = _nanmean(self.hd95[i])
            if self.lesion_dice:
                row["lesion_dice"] = self.lesion_dice[i]
            per_image.append(row)
        summary: dict[str, float] = {}
        metrics = ["dice", "iou", "dice_monai"] + (["hd95"] if self.use_hd95 else []) + (["lesion_dice"] if self.lesion_dice else [])
        for name in metrics:
            summary[name] = _nanmean([r[name] for r in per_image])
        total = sum(self.matrices) if self.matrices else np.zeros((self.num_classes, self.num_classes), np.int64)
        _, split_iou = class_scores(total)
        summary["miou"] = _nanmean(split_iou)
        summary["fg_miou"] = _nanmean(split_iou[1:])
        for c, name in enumerate(self.class_names[1:], start=1):
            summary[f"dice_{name}"] = _nanmean(dice[:, c]) if len(dice) else math.nan
        for c, name in enumerate(self.class_names[1:], start=1):
            summary[f"iou_{name}"] = _nanmean(iou[:, c]) if len(iou) else math.nan
        if self.candidates and len(self.candidates) == len(per_image):
            self._lesion_detection(per_image, summary)
        extra = {"confusion": total.tolist(), "class_names": self.class_names}
        return TaskScores(per_image=per_image, summary=summary, extra=extra)

    def _lesion_detection(self, per_image: list[dict], summary: dict) -> None:
        from bench.tasks.det.metrics import boxes_json
        from bench.tasks.lesion_metrics import lesion_figures

        gt, boxes, scores = ([c[k] for c in self.candidates] for k in range(3))
        figures, rows = lesion_figures(gt, boxes, scores, self.candidate_ids, self.lesions, prefix="seg_")
        summary.update(figures)
        for row, extra, g, b, s in zip(per_image, rows, gt, boxes, scores):
            row.update(extra, seg_det_boxes=boxes_json(b, np.zeros(len(b), np.int64), s), seg_gt_boxes=boxes_json(g, np.zeros(len(g), np.int64)))
