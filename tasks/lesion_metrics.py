"""Lesion-level figures: what a reader of a lesion study asks, "how many lesions were found, at how
many false alarms per image, and how well were they outlined?"

- `froc`: the free-response operating characteristic of a detector over a split. A detection
  *hits* a lesion when its centre lies inside the lesion's box or the lesion's centre inside the
  detection's (the centre-hit rule of lesion-detection challenges, robust for lesions a few pixels
  across, where IoU thresholds punish a one-pixel offset). Per lesion, only its best-scoring hit is
  a true positive; further hits on the same lesion are neither (as in LUNA16); a detection hitting
  no lesion is a false positive. Sensitivity at r false positives per image is the best
  sensitivity over score thresholds whose false positives per image do not exceed r.
- `lesion_dice`: per ground-truth lesion (a connected component of the mask), the Dice of that
  lesion against the predicted components touching it; a missed lesion scores 0.

Both return per-lesion records (hit or Dice), so results can be broken down by lesion size and
contrast, and resampled over images for intervals by `bench.analysis`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP_RATES = (0.5, 1.0)


@dataclass
class Froc:
    thresholds: np.ndarray  # descending scores
    sensitivity: np.ndarray  # at each threshold
    fp_per_image: np.ndarray
    lesion_scores: list[np.ndarray]  # per image, per lesion: best hit score (-inf: never hit)

    def at(self, fp_rate: float) -> tuple[float, float]:
        """(sensitivity, the score threshold reaching it) at `fp_rate` false positives per image."""
        ok = self.fp_per_image <= fp_rate + 1e-12
        if not ok.any():
            return 0.0, float("inf")
        i = int(np.flatnonzero(ok)[np.argmax(self.sensitivity[ok])])
        return float(self.sensitivity[i]), float(self.thresholds[i])

    def hits(self, threshold: float) -> list[np.ndarray]:
        """Per image, per lesion: found at this threshold."""
        return [scores >= threshold for scores in self.lesion_scores]


def _centre_hits(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """D×G bool: detection d hits lesion g (centre of either inside the other's box)."""
    if len(det) == 0 or len(gt) == 0:
        return np.zeros((len(det), len(gt)), bool)
    dc = (det[:, :2] + det[:, 2:]) / 2
    gc = (gt[:, :2] + gt[:, 2:]) / 2
    d_in_g = (dc[:, None, 0] >= gt[None, :, 0]) & (dc[:, None, 0] <= gt[None, :, 2]) & \
             (dc[:, None, 1] >= gt[None, :, 1]) & (dc[:, None, 1] <= gt[None, :, 3])
    g_in_d = (gc[None, :, 0] >= det[:, None, 0]) & (gc[None, :, 0] <= det[:, None, 2]) & \
             (gc[None, :, 1] >= det[:, None, 1]) & (gc[None, :, 1] <= det[:, None, 3])
    return d_in_g | g_in_d


def froc(gt_boxes: list[np.ndarray], det_boxes: list[np.ndarray], det_scores: list[np.ndarray]) -> Froc:
    """FROC over images: gt_boxes[i] G×4 xyxy, det_boxes[i] D×4 xyxy with det_scores[i] D."""
    n_images = max(len(gt_boxes), 1)
    n_lesions = sum(len(g) for g in gt_boxes)
    events = []  # (score, +1 TP lesion found / 0 FP)
    lesion_scores = []
    for gt, det, scores in zip(gt_boxes, det_boxes, det_scores):
        gt, det = np.asarray(gt, float).reshape(-1, 4), np.asarray(det, float).reshape(-1, 4)
        scores = np.asarray(scores, float).reshape(-1)
        hits = _centre_hits(det, gt)
        best = np.full(len(gt), -np.inf)
        for g in range(len(gt)):
            if hits[:, g].any():
                best[g] = scores[hits[:, g]].max()
        lesion_scores.append(best)
        events += [(s, 1) for s in best if np.isfinite(s)]
        events += [(float(s), 0) for s, hit in zip(scores, hits.any(axis=1)) if not hit]
    if not events:
        empty = np.zeros(1)
        return Froc(np.array([np.inf]), empty, empty, lesion_scores)
    events.sort(key=lambda e: -e[0])
    scores = np.array([e[0] for e in events])
    tp = np.cumsum([e[1] for e in events])
    fp = np.cumsum([1 - e[1] for e in events])
    last = np.r_[scores[1:] != scores[:-1], True]  # one operating point per distinct threshold
    return Froc(scores[last], tp[last] / max(n_lesions, 1), fp[last] / n_images, lesion_scores)


def lesion_dice(gt_mask: np.ndarray, pred_mask: np.ndarray) -> list[float]:
    """Per connected ground-truth lesion (8-connected, in label order): Dice against the predicted components touching it."""
    from scipy import ndimage

    structure = np.ones((3, 3), bool)
    gt_labels, n_gt = ndimage.label(gt_mask > 0, structure)
    pred_labels, _ = ndimage.label(pred_mask > 0, structure)
    out = []
    for g in range(1, n_gt + 1):
        lesion = gt_labels == g
        touching = np.unique(pred_labels[lesion])
        touching = touching[touching > 0]
        predicted = np.isin(pred_labels, touching) if touching.size else np.zeros_like(lesion)
        out.append(float(2 * (lesion & predicted).sum() / (lesion.sum() + predicted.sum())))
    return out
