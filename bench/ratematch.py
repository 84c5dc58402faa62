"""Rate matching: per codec, the native quality whose mean bpp over the selected images is
closest to each target bpp, so every codec is compared at the same rates.

The mean bpp of a codec is monotone in its quality knob, so a bisection finds it: integers are
bisected to adjacent values (scales with few values, such as a learned codec's trained rate
points, are tried in full), floats until the mean is within the tolerance. Every trial encodes
all selected images (real bytes, as the sweep will), at most `max_trials` trials per target; the
achieved bpp and whether it is within tolerance go into the manifest. A target outside a codec's
range gets its nearest end, marked as not within tolerance."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.errors import BenchError, UnsupportedInput

MAX_TRIALS = 12
TOLERANCE = 0.05  # relative to the target


@dataclass
class Match:
    target: float
    quality: float
    bpp: float
    trials: int
    within_tolerance: bool

    def record(self) -> dict:
        return asdict(self)


class _MeanBpp:
    """Mean bpp over the samples at a quality, each quality encoded once."""

    def __init__(self, codec, samples) -> None:
        self.codec, self.samples, self.seen = codec, samples, {}

    def __call__(self, quality: float) -> float:
        if quality not in self.seen:
            values = []
            for s in self.samples:
                try:
                    q = self.codec.scale.check(self.codec.name, quality)
                    data = self.codec.encode(s.image, q, s.bit_depth)
                except UnsupportedInput:
                    continue
                values.append(8 * len(data) / (s.image.shape[0] * s.image.shape[1]))
            self.seen[quality] = sum(values) / len(values) if values else math.nan
        return self.seen[quality]


def _closest(f: _MeanBpp, target: float) -> tuple[float, float]:
    q = min((q for q, v in f.seen.items() if math.isfinite(v)), key=lambda q: abs(math.log(f.seen[q] / target)))
    return q, f.seen[q]


def match_one(f: _MeanBpp, target: float, tolerance: float = TOLERANCE, max_trials: int = MAX_TRIALS) -> Match:
    scale = f.codec.scale
    low, high = scale.low, scale.high
    start = len(f.seen)
    if scale.integer and high - low + 1 <= max_trials:
        for q in range(int(low), int(high) + 1):
            f(q)
    else:
        rising = scale.higher_is_better  # bpp rises with the knob
        a, b = (int(low), int(high)) if scale.integer else (float(low), float(high))
        while len(f.seen) - start < max_trials:
            m = (a + b) // 2 if scale.integer else (a + b) / 2
            if scale.integer and m in (a, b):
                for end in (a, b):
                    if len(f.seen) - start < max_trials:
                        f(end)
                break
            value = f(m)
            if not math.isfinite(value) or abs(value / target - 1) <= tolerance:
                break
            if (value < target) == rising:
                a = m
            else:
                b = m
    if not any(math.isfinite(v) for v in f.seen.values()):
        raise BenchError(f"--bpp: codec '{f.codec.name}' coded none of the selected images")
    quality, bpp = _closest(f, target)
    return Match(target, quality, bpp, len(f.seen) - start, abs(bpp / target - 1) <= tolerance)


def match_rates(codec, samples, targets: list[float], tolerance: float = TOLERANCE, max_trials: int = MAX_TRIALS) -> list[Match]:
    f = _MeanBpp(codec, samples)
    return [match_one(f, t, tolerance, max_trials) for t in targets]
