"""Rate–metric curves per codec, kept per image so that every statistic can be bootstrapped.

Bootstrap draws are image weights (multinomial counts) shared by every codec and the
uncompressed reference: the comparison is paired, as every codec coded the same images.
Per-image metrics (PSNR, Dice, ...) re-weight as means; mAP re-weights through the detections
each row stores (`det_boxes`, `gt_boxes`), accumulated as COCO does (`coco.py`),
and lesion sensitivity through the same boxes as a FROC (`froc.py`); dataset-level figures with neither (mIoU) have a point value and no interval."""

from __future__ import annotations

import math
import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from bench.analysis.reader import REFERENCE, ResultsFolder

DRAWS = 1000
DETECTION_METRICS = ("map50", "map50_95")
OBSERVER_METRICS = ("dprime", "auc")  # re-weighted through each row's CHO test statistics (`observer_t`)
# FP/image of each (tasks/lesion_metrics.SENSITIVITY_AT) and the row columns holding its detections
LESION_METRICS = {"sensitivity": (1.0, ""), "sensitivity_fp05": (0.5, ""), "seg_sensitivity": (1.0, "seg_"),
                  "seg_sensitivity_fp05": (0.5, "seg_")}


@dataclass
class Curve:
    """Q rate points of one codec over N images: bpp per image, the metric per image (Q×N) or
    as Q×1 dataset-level values with `resample_metric` (weights B×N -> B×Q) when re-weightable."""

    codec: str
    qualities: np.ndarray
    bpp: np.ndarray
    metric: np.ndarray
    per_image: bool
    resample_metric: Callable[[np.ndarray], np.ndarray] | None = None
    _resampled: dict = field(default_factory=dict, repr=False, compare=False)  # weights digest -> (bpp, metric)

    @property
    def resamplable(self) -> bool:
        return self.per_image or self.resample_metric is not None

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean bpp, metric) per rate point, sorted by bpp; the metric's mean as the summary takes it."""
        bpp, metric = self.bpp.mean(axis=1), finite_mean(self.metric, np.ones((1, self.metric.shape[1])))[0]
        order = np.argsort(bpp, kind="stable")
        return bpp[order], metric[order]

    def resampled(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B×Q (bpp, metric) for B image-weight vectors, each row sorted by bpp. Kept per weights:
        every BD-rate against an anchor re-weights the anchor with the same draws."""
        key = weights_digest(weights)
        if key not in self._resampled:
            self._resampled[key] = self._resample(weights)
        return self._resampled[key]

    def _resample(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = weights.sum(axis=1, keepdims=True)
        bpp = weights @ self.bpp.T / total
        metric = finite_mean(self.metric, weights) if self.per_image else self.resample_metric(weights)
        order = np.argsort(bpp, axis=1, kind="stable")
        return np.take_along_axis(bpp, order, axis=1), np.take_along_axis(metric, order, axis=1)


def weights_digest(weights: np.ndarray) -> str:
    """A key for one set of bootstrap draws (the same draws give the same key)."""
    return hashlib.blake2b(np.ascontiguousarray(weights).tobytes(), digest_size=16).hexdigest() + str(weights.shape)


def finite_mean(metric: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """B×Q weighted means of a Q×N metric over its finite values, the summary's rule (`results.py`):
    an image coded exactly (PSNR inf) leaves the mean and is counted in `n_exact`; a point whose
    every image is exact stays inf."""
    finite = np.isfinite(metric)
    counted = weights @ finite.T
    sums = weights @ np.where(finite, metric, 0.0).T
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counted
    every_exact = np.isposinf(metric).all(axis=1) & (metric.shape[1] > 0)
    return np.where(counted > 0, mean, np.where(every_exact[None, :], np.inf, np.nan))


def common_images(folder: ResultsFolder, codecs: list[str]) -> list[str]:
    """Images whose every cell, in every named codec and the reference, coded without failure."""
    rows = folder.results[folder.results.codec.isin([*codecs, REFERENCE])]
    bad = set(rows.loc[rows.status != "ok", "image_id"])
    return [i for i in dict.fromkeys(rows.image_id) if i not in bad]


def is_per_image(folder: ResultsFolder, metric: str) -> bool:
    return metric in folder.results.columns and folder.results.loc[folder.results.status == "ok", metric].notna().any()


def _matrix(rows: pd.DataFrame, column: str, images: list[str], reference: bool) -> np.ndarray:
    table = rows.set_index("image_id")[[column]].T if reference else \
        rows.pivot_table(index="quality", columns="image_id", values=column, dropna=False, aggfunc="first")
    return table.reindex(columns=images).to_numpy(np.float64)


def _stored_boxes(rows: pd.DataFrame, qualities: np.ndarray, images: list[str], reference: bool, prefix: str = ""):
    """Per rate point: (gt, dt) lists over `images` as the det metric took them, from the rows' JSON
    (`prefix`: "seg_" for the segmentation's lesion candidates)."""
    from bench.tasks.det.metrics import parse_boxes

    for q in qualities:
        group = (rows if reference else rows[rows.quality == q]).set_index("image_id").reindex(images)
        gt, dt = [], []
        for _, r in group.iterrows():
            g_boxes, g_labels, _ = parse_boxes(r[f"{prefix}gt_boxes"])
            d_boxes, d_labels, d_scores = parse_boxes(r[f"{prefix}det_boxes"])
            gt.append(((0, 0), g_boxes, g_labels))
            dt.append((d_boxes, d_scores, d_labels))
        yield gt, dt


def _map_resampler(folder: ResultsFolder, codec: str, rows: pd.DataFrame, qualities: np.ndarray, images: list[str], metric: str,
                   reference: bool):
    """weights B×N -> B×Q mAP, from the detections stored per row. mAP50 and mAP50-95 come from the
    same matching and the same accumulation, so both curves share them (`folder.memo`)."""
    from bench.analysis.coco import MatchTable, map_scores

    key = ("map_tables", codec, tuple(images))
    if key not in folder.memo:
        tables = []
        for gt, dt in _stored_boxes(rows, qualities, images, reference):
            n_classes = 1 + max([int(k.max()) for _, _, k in gt if len(k)] + [int(k.max()) for _, _, k in dt if len(k)] + [0])
            tables.append(MatchTable(gt, dt, n_classes))
        folder.memo[key] = (tables, {})
    tables, scores = folder.memo[key]
    index = 0 if metric == "map50" else 1

    def resample(weights: np.ndarray) -> np.ndarray:
        digest = weights_digest(weights)
        if digest not in scores:
            scores[digest] = [map_scores(t.average_precision(weights)) for t in tables]
        return np.stack([both[index] for both in scores[digest]], axis=1)
    return resample


def _froc_resampler(rows: pd.DataFrame, qualities: np.ndarray, images: list[str], metric: str, reference: bool):
    """weights B×N -> B×Q lesion sensitivity at the metric's false positives per image."""
    from bench.analysis.froc import FrocTable

    rate, prefix = LESION_METRICS[metric]
    tables = [FrocTable([g for _, g, _ in gt], [d for d, _, _ in dt], [s for _, s, _ in dt])
              for gt, dt in _stored_boxes(rows, qualities, images, reference, prefix)]

    def resample(weights: np.ndarray) -> np.ndarray:
        return np.stack([t.sensitivity(weights, rate) for t in tables], axis=1)
    return resample


def _observer_resampler(rows: pd.DataFrame, qualities: np.ndarray, images: list[str], metric: str, reference: bool):
    """weights B×N -> B×Q CHO d′ or AUC, each pair weighted by its image's weight."""
    import json

    from bench.tasks.observer.cho import auc, dprime

    figure = dprime if metric == "dprime" else auc
    points = []
    for q in qualities:
        group = (rows if reference else rows[rows.quality == q]).set_index("image_id").reindex(images)
        t, owner = [], []
        for k, text in enumerate(group["observer_t"]):
            pairs = json.loads(text) if isinstance(text, str) else []
            t += pairs
            owner += [k] * len(pairs)
        t = np.asarray(t, np.float64).reshape(-1, 2)
        points.append((t, np.asarray(owner, np.int64)))

    def resample(weights: np.ndarray) -> np.ndarray:
        return np.stack([figure(t[:, 0], t[:, 1], weights[:, owner]) for t, owner in points], axis=1)
    return resample


def curve(folder: ResultsFolder, codec: str, metric: str, images: list[str]) -> Curve:
    """The codec's rate points over `images`, re-weightable whenever the results allow it (built
    once per folder, codec, metric and image set: `ResultsFolder.memo`)."""
    key = ("curve", codec, metric, tuple(images))
    if key not in folder.memo:
        folder.memo[key] = _build_curve(folder, codec, metric, images)
    return folder.memo[key]


def _build_curve(folder: ResultsFolder, codec: str, metric: str, images: list[str]) -> Curve:
    reference = codec == REFERENCE
    rows = folder.results[(folder.results.codec == codec) & folder.results.image_id.isin(images)]
    qualities = np.array([math.nan]) if reference else np.array(sorted(rows.quality.dropna().unique()))
    bpp = _matrix(rows, "bpp", images, reference)
    if is_per_image(folder, metric):
        return Curve(codec, qualities, bpp, _matrix(rows, metric, images, reference), True)
    summary = folder.summary[folder.summary.codec == codec]
    values = summary[[metric]].to_numpy(np.float64) if reference else \
        summary.set_index("quality").reindex(qualities)[[metric]].to_numpy(np.float64)
    resampler = None
    boxes_stored = {"det_boxes", "gt_boxes"} <= set(rows.columns) and rows.det_boxes.notna().all()
    if metric in DETECTION_METRICS and boxes_stored:
        resampler = _map_resampler(folder, codec, rows, qualities, images, metric, reference)
    elif metric in LESION_METRICS:
        prefix = LESION_METRICS[metric][1]
        if {f"{prefix}det_boxes", f"{prefix}gt_boxes"} <= set(rows.columns) and rows[f"{prefix}det_boxes"].notna().all():
            resampler = _froc_resampler(rows, qualities, images, metric, reference)
    elif metric in OBSERVER_METRICS and "observer_t" in rows.columns and rows.observer_t.notna().all():
        resampler = _observer_resampler(rows, qualities, images, metric, reference)
    return Curve(codec, qualities, bpp, values, False, resampler)


def draws(n_images: int, n_draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """n_draws × n_images multinomial counts: the bootstrap resamples over images."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=n_draws).astype(np.float64)


def interval(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    values = np.asarray([v for v in values if np.isfinite(v)])
    if not len(values):
        return math.nan, math.nan
    tail = 100 * (1 - level) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def mean_interval(values: pd.Series | np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Bootstrap 95% interval of a per-image mean over the finite values (as the summary's mean);
    a draw holding none of them has no mean and is left out, not counted as 0."""
    v = np.asarray(values, np.float64)
    keep = np.isfinite(v)
    if not keep.any():
        return math.nan, math.nan
    w = weights[:, keep]
    counted = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return interval(np.where(counted > 0, w @ v[keep] / counted, np.nan))
