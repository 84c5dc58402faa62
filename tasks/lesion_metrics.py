"""Lesion-level figures: what a reader of a lesion study asks, "how many lesions were found, at how
many false alarms per image, and how well were they outlined?"

- `froc`: the free-response operating characteristic of a detector over a split. A detection
  *hits* a lesion when its centre lies inside the lesion's box grown by `HIT_TOLERANCE_PX` on
  each side (the centre-hit rule of lesion-detection challenges, as LUNA16 scores a candidate by
  its distance to the nodule's centre: robust for lesions a few pixels across, where IoU
  thresholds punish a one-pixel offset). Only the detection's centre counts, so a box drawn
  around half the brain finds at most the lesions near its middle. Per lesion, only its best-scoring hit is
  a true positive; further hits on the same lesion are neither (as in LUNA16); a detection hitting
  no lesion is a false positive. Sensitivity at r false positives per image is the best
  sensitivity over score thresholds whose false positives per image do not exceed r.
- `lesion_dice`: per ground-truth lesion (a connected component of the mask), the Dice of that
  lesion against the predicted components touching it; a missed lesion scores 0.

Both return per-lesion records (hit or Dice), so results can be broken down by lesion size and
contrast. The summary holds point figures; `bench/analysis/froc.py` re-weights images for their
bootstrap intervals from the boxes each row stores, as `bench/analysis/coco.py` does for mAP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP_RATES = (0.5, 1.0)
HIT_TOLERANCE_PX = 2.0
# Summary names: `sensitivity` at 1 false positive per image (the headline), `sensitivity_fp05` at 0.5.
SENSITIVITY_AT = {"sensitivity": 1.0, "sensitivity_fp05": 0.5}
# Lesion bins of the breakdowns (diameter in mm, |contrast| as a fraction of the local tissue level).
SIZE_BINS = {"small": (0.0, 4.0), "medium": (4.0, 8.0), "large": (8.0, np.inf)}
CONTRAST_BINS = {"faint": (0.0, 0.1), "moderate": (0.1, 0.2), "strong": (0.2, np.inf)}


@dataclass
class Froc:
    thresholds: np.ndarray  # descending scores
    sensitivity: np.ndarray  # at each threshold
    fp_per_image: np.ndarray
    lesion_scores: list[np.ndarray]  # per image, per lesion: best hit score (-inf: never hit)
    false_scores: list[np.ndarray]  # per image: the scores of detections that hit no lesion

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
    """D×G bool: detection d's centre lies in lesion g's box grown by `HIT_TOLERANCE_PX`."""
    if len(det) == 0 or len(gt) == 0:
        return np.zeros((len(det), len(gt)), bool)
    dc = (det[:, :2] + det[:, 2:]) / 2
    t = HIT_TOLERANCE_PX
    return (dc[:, None, 0] >= gt[None, :, 0] - t) & (dc[:, None, 0] <= gt[None, :, 2] + t) & \
           (dc[:, None, 1] >= gt[None, :, 1] - t) & (dc[:, None, 1] <= gt[None, :, 3] + t)


def froc(gt_boxes: list[np.ndarray], det_boxes: list[np.ndarray], det_scores: list[np.ndarray]) -> Froc:
    """FROC over images: gt_boxes[i] G×4 xyxy, det_boxes[i] D×4 xyxy with det_scores[i] D."""
    n_images = max(len(gt_boxes), 1)
    n_lesions = sum(len(g) for g in gt_boxes)
    events = []  # (score, +1 TP lesion found / 0 FP)
    lesion_scores, false_scores = [], []
    for gt, det, scores in zip(gt_boxes, det_boxes, det_scores):
        gt, det = np.asarray(gt, float).reshape(-1, 4), np.asarray(det, float).reshape(-1, 4)
        scores = np.asarray(scores, float).reshape(-1)
        hits = _centre_hits(det, gt)
        best = np.full(len(gt), -np.inf)
        for g in range(len(gt)):
            if hits[:, g].any():
                best[g] = scores[hits[:, g]].max()
        lesion_scores.append(best)
        false_scores.append(scores[~hits.any(axis=1)])
        events += [(s, 1) for s in best if np.isfinite(s)]
        events += [(float(s), 0) for s in false_scores[-1]]
    if not events:
        empty = np.zeros(1)
        return Froc(np.array([np.inf]), empty, empty, lesion_scores, false_scores)
    events.sort(key=lambda e: -e[0])
    scores = np.array([e[0] for e in events])
    tp = np.cumsum([e[1] for e in events])
    fp = np.cumsum([1 - e[1] for e in events])
    last = np.r_[scores[1:] != scores[:-1], True]  # one operating point per distinct threshold
    return Froc(scores[last], tp[last] / max(n_lesions, 1), fp[last] / n_images, lesion_scores, false_scores)


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


def lesion_figures(gt_boxes: list[np.ndarray], det_boxes: list[np.ndarray], det_scores: list[np.ndarray],
                   image_ids: list[str], lesions: dict[str, list[dict]] | None, prefix: str = "") -> tuple[dict, list[dict]]:
    """What a detector (or a segmentation read as one) reports lesion by lesion: the summary's
    FROC sensitivities (and per bin where `lesions` records size and contrast), and per image the
    lesions and those found at the split's 1 FP/image threshold; keys `prefix`ed."""
    curve = froc(gt_boxes, det_boxes, det_scores)
    summary = {name: curve.at(rate)[0] for name, rate in SENSITIVITY_AT.items()}
    rows = []
    for hits, image_id in zip(curve.hits(curve.at(1.0)[1]), image_ids):
        records = (lesions or {}).get(image_id)
        rows.append(found_by_bin(hits, records) if records is not None and len(records) == len(hits)
                    else {"lesions": float(len(hits)), "found": float(np.sum(hits))})
    if lesions is not None:
        for b in (*SIZE_BINS, *CONTRAST_BINS):
            n = sum(r.get(f"lesions_{b}", 0.0) for r in rows)
            summary[f"sensitivity_{b}"] = sum(r.get(f"found_{b}", 0.0) for r in rows) / n if n else float("nan")
    return ({f"{prefix}{k}": v for k, v in summary.items()}, [{f"{prefix}{k}": v for k, v in r.items()} for r in rows])


def lesion_bin(record: dict) -> tuple[str, str]:
    """(size bin, contrast bin) of a lesion record (`bench.datasets.lesions.Lesion.record`)."""
    size = next(k for k, (lo, hi) in SIZE_BINS.items() if lo <= record["diameter_mm"] < hi)
    contrast = next(k for k, (lo, hi) in CONTRAST_BINS.items() if lo <= abs(record["contrast"]) < hi)
    return size, contrast


def found_by_bin(found: np.ndarray, records: list[dict]) -> dict[str, float]:
    """One image's lesion counts and lesions found per bin: `lesions_<bin>` and `found_<bin>`,
    so a split's sensitivity per bin is a ratio of sums (and resamples over images)."""
    out = {f"{kind}_{b}": 0.0 for b in (*SIZE_BINS, *CONTRAST_BINS) for kind in ("lesions", "found")}
    out["lesions"], out["found"] = float(len(records)), float(np.sum(found))
    for hit, record in zip(found, records):
        for b in lesion_bin(record):
            out[f"lesions_{b}"] += 1
            out[f"found_{b}"] += float(hit)
    return out


def candidates(mask: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A segmentation read as a detector: each 8-connected predicted component is a candidate,
    its box (xyxy, pixel edges) scored by its highest foreground probability; (K×4 boxes, K scores)."""
    from scipy import ndimage

    labels, n = ndimage.label(np.asarray(mask) > 0, np.ones((3, 3), bool))
    if n == 0:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.array([[sl[1].start, sl[0].start, sl[1].stop, sl[0].stop] for sl in ndimage.find_objects(labels)], np.float64)
    scores = np.asarray(ndimage.maximum(np.asarray(probability, np.float32), labels, np.arange(1, n + 1)), np.float64)
    return boxes, scores


def mask_boxes(mask: np.ndarray) -> np.ndarray:
    """Boxes (xyxy, pixel edges) of a mask's 8-connected components: the lesions of a dataset without boxes."""
    return candidates(mask, np.ones(np.shape(mask), np.float32))[0]
