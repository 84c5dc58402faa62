"""Task BD-rate: the average bitrate difference at equal task accuracy (or PSNR), with the
`bjontegaard` package's piecewise cubic (pchip) interpolation, as JVET computes BD-rate.

Task accuracy saturates and wiggles near its uncompressed level, so a task curve is read through
its monotone envelope by default (`envelope`): the rate points that beat every lower-rate point
of the same codec, i.e. its operational rate–accuracy curve (the Pareto front: no user would pick
a point that costs more bits for less accuracy), and the record says how many points it kept.
PSNR and MS-SSIM curves are taken as they are (strict).

There is no number when it would mislead, and the status says why:
- a strict curve is not monotone in rate (the inverse, rate as a function of accuracy, does not
  exist); `rising_part` keeps each curve's points up to its first drop instead, and says so;
- the curves overlap too little on the metric axis (the paper's Table 1 is such a case:
  MVMICNet's curve lies above every anchor's, so there is no common accuracy to compare at).
The 95% interval comes from bootstrap draws over images, shared by anchor and test."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from bench.analysis import pchip
from bench.analysis.curves import Curve, common_images, curve, draws, interval
from bench.analysis.reader import ResultsFolder

# Least share of the narrower curve's metric range that both curves cover. The BD integral runs
# over the shared interval only and never extrapolates, so what can mislead is a shared interval
# that is a small part of both curves (curves that meet at their tails). The bjontegaard package
# measures the share of the union instead, which refuses a curve for measuring more: an extended
# ladder reaching Dice 0.4 at 0.02 bpp covered the whole of vvc's Dice range and was refused at
# 11% of the union. Half of the narrower range keeps the comparison about most of one curve.
MIN_OVERLAP = 0.5
QUALITY_METRICS = ("psnr", "ms_ssim")  # taken strictly; every other metric through its envelope by default
MIN_POINTS = 2


@dataclass
class BDRate:
    codec: str
    anchor: str
    metric: str
    bd_rate: float  # percent; negative = fewer bits than the anchor at equal metric
    ci_low: float
    ci_high: float
    overlap: float
    status: str  # "ok" or why there is no number
    points: int  # rate points of the test curve used
    n_images: int
    note: str = ""

    def record(self) -> dict:
        return asdict(self)


def _monotone_part(bpp: np.ndarray, metric: np.ndarray, sign: float, rising_part: bool | str):
    """Points in rate order whose `sign`-oriented metric strictly improves with rate; else why not.
    `rising_part="envelope"`: the points that beat every lower-rate point (the monotone envelope)."""
    finite = np.isfinite(bpp) & np.isfinite(metric) & (bpp > 0)
    bpp, metric = bpp[finite], metric[finite]
    if rising_part == "envelope":
        oriented = sign * metric
        best = np.maximum.accumulate(np.r_[-np.inf, oriented[:-1]]) if len(oriented) else oriented
        keep = oriented > best
        return bpp[keep], oriented[keep], None
    drops = np.flatnonzero(np.diff(sign * metric) <= 0)
    if not len(drops):
        return bpp, sign * metric, None
    i = int(drops[0])
    if rising_part:
        return bpp[: i + 1], sign * metric[: i + 1], None
    worse = "falls" if sign > 0 else "rises"
    return bpp, sign * metric, (f"not monotone: {worse} from {metric[i]:.4g} at {bpp[i]:.3g} bpp "
                                f"to {metric[i + 1]:.4g} at {bpp[i + 1]:.3g} bpp")


def overlap_of(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the narrower of the two ranges that both cover (1.0 when one range holds the other)."""
    low, high = max(a.min(), b.min()), min(a.max(), b.max())
    narrower = min(a.max() - a.min(), b.max() - b.min())
    return min(max(high - low, 0.0) / narrower, 1.0) if narrower > 0 else 0.0


def bd_rate_of(anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], higher_is_better: bool = True,
               min_overlap: float = MIN_OVERLAP, rising_part: bool | str = False, fast: bool = False) -> tuple[float, float, str, int]:
    """(BD-rate %, overlap, status, test points used) of two (bpp, metric) curves sorted by bpp.
    `fast`: the same integral without building scipy interpolators (`pchip.py`), for bootstrap draws."""
    import bjontegaard

    sign = 1.0 if higher_is_better else -1.0
    curves = []
    for name, (bpp, metric) in (("anchor", anchor), ("test", test)):
        bpp, metric, why = _monotone_part(np.asarray(bpp, float), np.asarray(metric, float), sign, rising_part)
        if why:
            return math.nan, math.nan, f"{name} {why}", len(test[0])
        if len(bpp) < MIN_POINTS:
            return math.nan, math.nan, f"{name} has {len(bpp)} usable rate point(s); need {MIN_POINTS}", len(test[0])
        curves.append((bpp, metric))
    (ra, ma), (rt, mt) = curves
    overlap = overlap_of(ma, mt)
    if overlap < min_overlap - 1e-9:
        return math.nan, overlap, f"overlap {overlap:.0%} of the narrower metric range < {min_overlap:.0%}", len(rt)
    if fast:
        return pchip.bd_rate(ra, ma, rt, mt), overlap, "ok", len(rt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(bjontegaard.bd_rate(ra, ma, rt, mt, method="pchip", require_matching_points=False, min_overlap=0))
    return value, overlap, "ok", len(rt)


def bd_rates(folder: ResultsFolder, anchor: str, metric: str, codecs: list[str] | None = None, n_draws: int = 1000,
             min_overlap: float = MIN_OVERLAP, rising_part: bool = False, seed: int = 0, strict: bool | None = None) -> list[BDRate]:
    """One record per codec against `anchor` on `metric`, with bootstrap intervals when per-image values exist.
    `strict` None: PSNR/MS-SSIM strict, task metrics through their envelope; `rising_part` overrides both."""
    strict = metric in QUALITY_METRICS if strict is None else strict
    if not rising_part and not strict:
        rising_part = "envelope"
    folder.require_metric(metric)
    folder.require_codec(anchor, "--anchor")
    codecs = [c for c in (codecs or folder.codecs) if c != anchor]
    key = ("bd_rates", anchor, metric, tuple(codecs), n_draws, min_overlap, rising_part, seed)
    if key not in folder.memo:  # a report asks twice (its figure and its table); BDRate records are not changed by callers
        folder.memo[key] = _bd_rates(folder, anchor, metric, codecs, n_draws, min_overlap, rising_part, seed)
    return list(folder.memo[key])


def _bd_rates(folder: ResultsFolder, anchor: str, metric: str, codecs: list[str], n_draws: int, min_overlap: float,
              rising_part: bool | str, seed: int) -> list[BDRate]:
    higher = folder.higher_is_better(metric)
    out = []
    for codec in codecs:
        folder.require_codec(codec, "--codecs")
        blame = _none_coded(folder, [codec, anchor])
        if blame:  # name the codec that coded nothing, not whichever curve is checked first
            out.append(BDRate(codec, anchor, metric, math.nan, math.nan, math.nan, math.nan, blame, 0, 0, ""))
            continue
        images = common_images(folder, [anchor, codec])
        a, t = curve(folder, anchor, metric, images), curve(folder, codec, metric, images)
        value, overlap, status, used = bd_rate_of(a.points(), t.points(), higher, min_overlap, rising_part)
        low = high = math.nan
        kind = "envelope" if rising_part == "envelope" else "rising part"
        note = f"{kind}: {used} of {len(t.qualities)} points" if rising_part and status == "ok" and used < len(t.qualities) else ""
        if status == "ok" and a.resamplable and t.resamplable and n_draws:
            low, high, defined = _bootstrap(a, t, higher, min_overlap, rising_part, draws(len(images), n_draws, seed))
            if defined < 0.95:
                note = "; ".join(filter(None, [note, f"only {defined:.0%} of bootstrap draws give a number"]))
        elif status == "ok" and n_draws:
            note = "; ".join(filter(None, [note, f"no interval: the results hold no per-image values of '{metric}'"]))
        out.append(BDRate(codec, anchor, metric, value, low, high, overlap, status, used, len(images), note))
    return out


def _none_coded(folder: ResultsFolder, codecs: list[str]) -> str:
    """Why no BD-rate can exist: a codec with no image coded at all (unsupported or failed everywhere)."""
    rows = folder.results
    for codec in codecs:
        mine = rows[rows.codec == codec]
        if len(mine) and not (mine.status == "ok").any():
            reasons = mine.loc[mine.error.astype(str) != "", "error"].astype(str)
            why = f": {reasons.iloc[0]}" if len(reasons) else ""
            role = "anchor" if codec == codecs[-1] else "codec"
            return f"{role} {codec} coded no image ({', '.join(sorted(set(mine.status)))}{why})"
    return ""


def _bootstrap(a: Curve, t: Curve, higher: bool, min_overlap: float, rising_part: bool | str, weights: np.ndarray) -> tuple[float, float, float]:
    """Percentile interval over draws that give a number, and the share that do."""
    (ra, ma), (rt, mt) = a.resampled(weights), t.resampled(weights)
    values = []
    for i in range(len(weights)):
        value, _, status, _ = bd_rate_of((ra[i], ma[i]), (rt[i], mt[i]), higher, min_overlap, rising_part, fast=True)
        if status == "ok":
            values.append(value)
    low, high = interval(values)
    return low, high, len(values) / len(weights)
