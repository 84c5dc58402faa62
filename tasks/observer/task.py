"""`observer`: how detectable each lesion stays after coding, read by a channelized Hotelling
observer (CHO) rather than a trained network: no training, deterministic, cheap.

Pairs. Every lesion of a split's images gives one signal-present / signal-absent pair of the same
background: the signal-present ROI is centred on the lesion in its decoded image; the
signal-absent ROI is the same place in the decoded image of another layout of the same slice
that has no lesion near it (layouts of one slice share the slice's pixels exactly wherever no
lesion was inserted, and every layout is coded by the same codec at the same quality). So the
observer sees what the codec did to the lesion and to the same anatomy without it.

Signal known exactly: Laguerre–Gauss channels (`channels.py`) centred on the lesion, their width
the lesion's diameter (`WIDTH_PER_MM`); hypo-intense pairs are sign-flipped, so one template
serves both polarities. Each ROI has its own mean removed first (the local tissue level, which
varies across the brain far more than any lesion's amplitude; a linear step, the same for both
members of a pair; d′ 0.87 → 0.92 uncompressed on colin27-lesions test). The CHO is trained and tested two-fold on disjoint halves (even and odd
slices, so no anatomy is in both halves; `cho.py`). Figures: `dprime` (d′) and `auc`, with 95%
bootstrap intervals over images (pairs resampled with the image of their lesion); per image, the
test statistics of its pairs (`observer_t`, JSON) so analysis can re-weight images too.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import ClassVar, Sequence

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.base import Metric, Task, TaskScores

N_CHANNELS = 6
WIDTH_PER_MM = 1.0  # LG width a = lesion diameter (1 mm pixels)
ROI_RADII = 1.6  # ROI half-side in channel widths: exp(−π·1.6²) < 1e-3 at its edge
CLEARANCE_PX = 2.0  # a signal-absent ROI keeps this far from any other lesion's rim
CONFIG = {"channels": "laguerre-gauss", "n_channels": N_CHANNELS, "width_per_mm": WIDTH_PER_MM, "roi_radii": ROI_RADII,
          "clearance_px": CLEARANCE_PX, "roi_mean": "removed", "folds": "slice parity"}


def slice_of(image_id: str) -> str:
    return image_id.rsplit("-l", 1)[0]


def _roi(image: np.ndarray, cx: float, cy: float, half: int) -> tuple[np.ndarray, tuple[float, float]] | None:
    x0, y0 = int(round(cx)) - half, int(round(cy)) - half
    size = 2 * half + 1
    if x0 < 0 or y0 < 0 or x0 + size > image.shape[1] or y0 + size > image.shape[0]:
        return None
    roi = image[y0:y0 + size, x0:x0 + size].astype(np.float64)
    return roi - roi.mean(), (cx - x0, cy - y0)


def _clear(records: list[dict], cx: float, cy: float, reach: float) -> bool:
    """No lesion of `records` reaches within `reach` px of (cx, cy)."""
    return all(math.hypot(r["cx"] - cx, r["cy"] - cy) > reach + r["diameter_mm"] * 0.75 + CLEARANCE_PX for r in records)


def pairs(images: Sequence[np.ndarray], samples: Sequence[Sample], lesions: dict[str, list[dict]]):
    """Per lesion: (image index, slice, polarity sign, v_sp, v_sa) channel outputs; lesions without a
    clear signal-absent partner or too near the border are skipped (counted by the caller)."""
    from bench.tasks.observer.channels import laguerre_gauss

    by_slice: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_slice.setdefault(slice_of(s.id), []).append(i)
    out, skipped = [], 0
    for i, s in enumerate(samples):
        for r in lesions.get(s.id, []):
            width = WIDTH_PER_MM * r["diameter_mm"]
            half = int(math.ceil(ROI_RADII * width))
            partner = next((j for j in by_slice[slice_of(s.id)] if j != i and _clear(lesions.get(samples[j].id, []), r["cx"], r["cy"], half * 1.42)), None)
            present = _roi(images[i], r["cx"], r["cy"], half)
            absent = _roi(images[partner], r["cx"], r["cy"], half) if partner is not None else None
            if present is None or absent is None:
                skipped += 1
                continue
            u = laguerre_gauss(2 * half + 1, present[1], width, N_CHANNELS)
            sign = -1.0 if r["contrast"] < 0 else 1.0
            out.append((i, slice_of(s.id), sign * (present[0].ravel() @ u), sign * (absent[0].ravel() @ u)))
    return out, skipped


class ObserverMetric(Metric):
    states = ("_images", "_samples")

    def __init__(self, lesions: dict[str, list[dict]]) -> None:
        self.lesions = lesions
        self.reset()

    def update(self, predictions, samples: Sequence[Sample]) -> None:
        self._images += [np.asarray(p, np.float64) for p in predictions]
        self._samples += list(samples)

    def compute(self) -> TaskScores:
        from bench.tasks.observer.cho import auc, dprime, two_fold_statistics

        found, skipped = pairs(self._images, self._samples, self.lesions)
        n = len(self._samples)
        per_image = [{"observer_pairs": 0.0, "observer_t": "[]"} for _ in range(n)]
        nan = {"dprime": math.nan, "auc": math.nan}
        if len(found) < 4:
            return TaskScores(per_image, {**nan, "observer_pairs": float(len(found)), "observer_skipped": float(skipped)})
        image = np.array([f[0] for f in found])
        slices = sorted({f[1] for f in found})
        fold = np.array([slices.index(f[1]) % 2 for f in found])
        t_sp, t_sa = two_fold_statistics(np.stack([f[2] for f in found]), np.stack([f[3] for f in found]), fold)
        for i in range(n):
            mine = image == i
            per_image[i] = {"observer_pairs": float(mine.sum()),
                            "observer_t": json.dumps(np.round(np.stack([t_sp[mine], t_sa[mine]], 1), 4).tolist(), separators=(",", ":"))}
        summary = {"dprime": float(dprime(t_sp, t_sa)[0]), "auc": float(auc(t_sp, t_sa)[0]),
                   "observer_pairs": float(len(found)), "observer_skipped": float(skipped)}
        return TaskScores(per_image, summary, {"observer": CONFIG})


class ObserverTask(Task):
    name: ClassVar[str] = "observer"
    summary_columns: ClassVar[tuple[str, ...]] = ("dprime", "auc",
                                                  "observer_pairs", "observer_skipped")
    headline_columns: ClassVar[tuple[str, ...]] = ("dprime", "auc")
    scoring_modules: ClassVar[tuple[str, ...]] = ("bench.tasks.observer.channels", "bench.tasks.observer.cho", "bench.tasks.lesion_metrics")
    scoring_packages: ClassVar[tuple[str, ...]] = ("numpy", "scipy")

    options = ()  # no network, so no weights to give

    @classmethod
    def supports(cls, dataset: Dataset, weights: str | None = None) -> str | None:
        if not (dataset.extra or {}).get("lesions"):
            return f"dataset '{dataset.name}' records no lesions to observe (the observer needs each lesion's place and size, as colin27-lesions has)"
        return None

    def __init__(self, dataset: Dataset, device: str = "cpu", checkpoint: str | None = None, weights: str | None = None,
                 trust_pickle: bool = False) -> None:
        reason = self.supports(dataset)
        if reason:
            raise BenchError(f"task 'observer': {reason}")
        self.lesions = dataset.extra["lesions"]

    def model_id(self) -> str:
        """No weights: the observer's configuration is its identity."""
        return hashlib.sha256(json.dumps(CONFIG, sort_keys=True).encode()).hexdigest()[:16]

    def predict(self, images: Sequence[np.ndarray], samples: Sequence[Sample]) -> list[np.ndarray]:
        """The observer reads the decoded pixels themselves (the first channel of a colour image)."""
        return [np.asarray(im)[..., 0] if np.asarray(im).ndim == 3 else np.asarray(im) for im in images]

    def metric(self) -> ObserverMetric:
        return ObserverMetric(self.lesions)

    def loss(self, images, targets):
        raise BenchError("task 'observer' is a model observer, not a network: a codec cannot be trained against it")
