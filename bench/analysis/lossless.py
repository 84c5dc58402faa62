"""Task-lossless ratio: the largest compression ratio at which the task metric *stays* within
a tolerance of its uncompressed value (that point and every higher-rate point of the codec),
with a bootstrap interval over images. The ratio is against the stored bits per pixel (bit
depth × channels of the uncompressed images: 8 for colin27-aal, usually 16 for DICOM CT/MR)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from bench.analysis.curves import common_images, curve, draws
from bench.analysis.guidelines import SOURCE, guideline_ratio
from bench.analysis.reader import REFERENCE, ResultsFolder

# d′ has no natural unit: its tolerance is a fraction of the uncompressed d′ (5%, the model-observer
# literature's usual "no loss of detectability" margin); every other tolerance is absolute.
RELATIVE_TOLERANCES = {"dprime": 0.05}
TOLERANCES = {"auc": 0.01, "seg_sensitivity": 0.02, "seg_sensitivity_fp05": 0.02, "dice": 0.02, "sensitivity": 0.02, "sensitivity_fp05": 0.02, "lesion_dice": 0.02, "map50_95": 0.02, "map50": 0.02, "miou": 0.02, "iou": 0.02, "psnr": 1.0, "ms_ssim": 0.005}


@dataclass
class LosslessPoint:
    codec: str
    metric: str
    tolerance: float
    bpp: float  # lowest mean bpp that stays within tolerance; NaN when no point does
    bpp_ci_low: float
    bpp_ci_high: float
    ratio: float  # stored_bpp / bpp
    ratio_ci_low: float
    ratio_ci_high: float
    stored_bpp: float
    guideline_ratio: float  # the radiology guideline for the images' modality, NaN when none
    status: str

    def record(self) -> dict:
        return asdict(self)


def lowest_lossless_bpp(bpp: np.ndarray, metric: np.ndarray, reference: float, tolerance: float, higher: bool) -> float:
    """Lowest-rate point from which on every point is within tolerance (points sorted by bpp)."""
    ok = metric >= reference - tolerance if higher else metric <= reference + tolerance
    if not ok.any() or not ok[-1]:
        return math.nan
    first_good_tail = len(ok) - int(np.argmin(ok[::-1])) if not ok.all() else 0
    return float(bpp[first_good_tail])


def lossless_interval(draws_bpp: list[float], level: float = 0.95) -> tuple[float, float]:
    """95% interval of the lossless bpp over bootstrap draws. A draw in which no point stays within
    tolerance counts as a rate above every tested one (+inf), not as a missing draw: dropping those
    draws would make the upper bound optimistic exactly when the codec is marginal."""
    values = np.sort(np.where(np.isfinite(draws_bpp), draws_bpp, math.inf))
    if not len(values) or not np.isfinite(values[0]):
        return math.nan, math.nan
    tail = (1 - level) / 2
    low = float(np.percentile(values, 100 * tail, method="lower"))
    high = float(np.percentile(values, 100 * (1 - tail), method="higher"))
    return low, high


def lossless_ratios(folder: ResultsFolder, metric: str, tolerance: float | None = None, codecs: list[str] | None = None,
                    n_draws: int = 1000, seed: int = 0) -> list[LosslessPoint]:
    folder.require_metric(metric)
    relative = RELATIVE_TOLERANCES.get(metric) if tolerance is None else None
    tolerance = TOLERANCES.get(metric, 0.02) if tolerance is None else tolerance

    def allowed(reference: float) -> float:
        return relative * abs(reference) if relative is not None else tolerance
    higher = folder.higher_is_better(metric)
    stored = folder.stored_bpp
    modality = folder.results.modality.dropna().iloc[0] if "modality" in folder.results and folder.results.modality.notna().any() else None
    guide = guideline_ratio(modality)
    out = []
    for codec in codecs or folder.codecs:
        folder.require_codec(codec, "--codecs")
        images = common_images(folder, [codec])
        c, ref = curve(folder, codec, metric, images), curve(folder, REFERENCE, metric, images)
        bpp, values = c.points()
        reference = float(ref.metric.mean())
        best = lowest_lossless_bpp(bpp, values, reference, allowed(reference), higher)
        low = high = math.nan
        if c.resamplable and ref.resamplable and n_draws:
            weights = draws(len(images), n_draws, seed)
            (b, v), (_, r) = c.resampled(weights), ref.resampled(weights)
            low, high = lossless_interval([lowest_lossless_bpp(b[i], v[i], float(r[i, 0]), allowed(float(r[i, 0])), higher)
                                           for i in range(len(weights))])
        status = "ok" if math.isfinite(best) else f"never within {allowed(reference):g} of uncompressed {metric} (or not at its highest rate)"
        if status == "ok" and high == math.inf:
            status = "ok; upper bound above the highest rate tested (some draws never within tolerance)"
        ratio = stored / best if math.isfinite(best) else math.nan
        out.append(LosslessPoint(codec, metric, allowed(reference), best, low, high, ratio, stored / high if high and math.isfinite(high) else (0.0 if high == math.inf else math.nan),
                                 stored / low if low else math.nan, stored, float(guide) if guide else math.nan, status))
    return out


GUIDELINE_SOURCE = SOURCE
