"""Helpers of the speed benchmarks (`pytest tests/benchmarks --benchmark-only`).

Every benchmark is a `benchmark.pedantic` call with a round count sized to its speed (one
untimed warm call first, then MIN_ROUNDS..MAX_ROUNDS rounds filling about ROUND_BUDGET_S), so
slow codecs (vvc, learned ones) and the tasks finish in seconds; the rate (megapixels or images
per second, from the mean round) goes into the JSON report's `extra_info` and is printed at the
end of the run (conftest's `pytest_terminal_summary`).
"""

from __future__ import annotations

import time

import numpy as np

SIZE = 512  # benchmark slices are SIZE×SIZE, 8-bit gray
MEGAPIXELS = SIZE * SIZE / 1e6  # 0.262144
ROUND_BUDGET_S = 2.0  # a benchmark's rounds together take about this long (at least MIN_ROUNDS)
MIN_ROUNDS, MAX_ROUNDS = 3, 30


def to_square(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Deterministic SIZE×SIZE gray slice from any smaller slice: scale the longer side to `size`
    (bicubic, aspect kept), then zero-pad the shorter one around the centre, as a 512×512 MR
    field of view with the head filling it."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = min(size, round(h * scale)), min(size, round(w * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BICUBIC))
    out = np.zeros((size, size), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


def colin27_slice(dataset) -> np.ndarray:
    """The middle test slice of colin27-aal (a mid-brain axial T1 slice), at SIZE×SIZE."""
    test = dataset.split("test")
    return to_square(test[len(test) // 2].image)


def phantom_slice() -> np.ndarray:
    """Fallback without mricron-data: the phantom's first MR test slice, at SIZE×SIZE."""
    from bench.datasets.phantom import open_phantom

    return to_square(open_phantom("mr8").split("test")[0].image)


def rounds_for(seconds: float) -> int:
    """Rounds that fit ROUND_BUDGET_S for a call that took `seconds` (warm)."""
    return int(np.clip(ROUND_BUDGET_S / max(seconds, 1e-6), MIN_ROUNDS, MAX_ROUNDS))


def warm_call(fn):
    """Call once outside the timing (loads models, fills caches); return (result, seconds it took),
    the seconds sizing the rounds (an over-estimate when the first call loads something)."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def mean_seconds(benchmark) -> float | None:
    """The mean round of the benchmark just run, None when benchmarks are disabled."""
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.mean)


RATES: list[tuple[str, str, float]] = []  # (test id, unit, rate): printed at the end of the run (conftest)


def record_rate(benchmark, key: str, amount: float, unit: str) -> float | None:
    """Store `amount / mean seconds` as extra_info[key] and return it (None when disabled)."""
    mean = mean_seconds(benchmark)
    if mean is None or mean <= 0:
        return None
    rate = amount / mean
    benchmark.extra_info[key] = round(rate, 4)
    RATES.append((benchmark.name, unit, rate))
    return rate
