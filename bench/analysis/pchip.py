"""The BD-rate of `bjontegaard.bd_rate(..., method="pchip")`, for the bootstrap's inner loop.

Why not the package there: each call builds two scipy `PchipInterpolator`s (about 0.8 ms each),
and a report's intervals make about 35,000 calls, a minute of its time. This computes the same
number the same way, on the handful of points a curve has: scipy's PCHIP slopes (Fritsch–Carlson
weighted harmonic means, Moler's one-sided end points, a straight line through two points) and
the exact integral of each cubic Hermite piece over the shared metric range. Point estimates
still come from the package; `tests/test_pchip.py` holds this to the package's value on random
and measured curves."""

from __future__ import annotations

import numpy as np


def _sign(value: float) -> float:
    return (value > 0) - (value < 0)


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    """scipy's `PchipInterpolator._edge_case`: a one-sided three-point estimate, kept shape-preserving."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if _sign(d) != _sign(m0):
        return 0.0
    if _sign(m0) != _sign(m1) and abs(d) > 3 * abs(m0):
        return 3 * m0
    return d


def slopes(x: list[float], y: list[float]) -> list[float]:
    """PCHIP derivatives at the points, as scipy's `PchipInterpolator._find_derivatives` (plain
    floats: a curve has a handful of points, where numpy's per-call cost is most of the time)."""
    h = [b - a for a, b in zip(x, x[1:])]
    m = [(b - a) / step for a, b, step in zip(y, y[1:], h)]
    if len(x) == 2:
        return [m[0], m[0]]
    d = [0.0] * len(x)
    for k in range(1, len(x) - 1):
        if _sign(m[k]) != _sign(m[k - 1]) or m[k] == 0 or m[k - 1] == 0:
            continue
        w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
        d[k] = 1.0 / ((w1 / m[k - 1] + w2 / m[k]) / (w1 + w2))
    d[0] = _end_slope(h[0], h[1], m[0], m[1])
    d[-1] = _end_slope(h[-1], h[-2], m[-1], m[-2])
    return d


def integral(x: list[float], y: list[float], low: float, high: float) -> float:
    """∫ of the PCHIP interpolant of (x, y) from `low` to `high`, both inside [x[0], x[-1]]:
    each cubic Hermite piece's antiderivative, from its left end, over its share of the range."""
    d = slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        h = x[k + 1] - x[k]
        start, stop = min(max(low - x[k], 0.0), h), min(max(high - x[k], 0.0), h)
        if stop <= start:
            continue
        m = (y[k + 1] - y[k]) / h
        c1, c2, c3 = d[k], (3 * m - 2 * d[k] - d[k + 1]) / h, (d[k] + d[k + 1] - 2 * m) / h ** 2

        def antiderivative(t: float) -> float:
            return t * (y[k] + t * (c1 / 2 + t * (c2 / 3 + t * c3 / 4)))

        total += antiderivative(stop) - antiderivative(start)
    return total


def bd_rate(rate_anchor: np.ndarray, metric_anchor: np.ndarray, rate_test: np.ndarray, metric_test: np.ndarray) -> float:
    """BD-rate in percent of two curves whose metric rises with rate (the package's pchip BD-rate,
    over the shared metric range)."""
    low, high = max(metric_anchor[0], metric_test[0]), min(metric_anchor[-1], metric_test[-1])
    if not high > low:
        return float("nan")
    anchor = integral(list(map(float, metric_anchor)), np.log10(rate_anchor).tolist(), float(low), float(high))
    test = integral(list(map(float, metric_test)), np.log10(rate_test).tolist(), float(low), float(high))
    return float((10 ** ((test - anchor) / (high - low)) - 1) * 100)
