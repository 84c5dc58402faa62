"""How CT/MR values (HU, rescaled DICOM, float NIfTI) become stored integers: `plan_intensity`
picks the bit depth and the linear map (`IntensityMap`), kept in the manifest so a result can
say what a pixel value means."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.datasets.imageio import BIT_DEPTHS, data_warning, depth_for_max
from bench.errors import DatasetError

@dataclass
class IntensityMap:
    """value_stored = round((value - lo) * scale) + offset, clipped to [0, 2**bit_depth - 1]."""

    bit_depth: int
    offset: float = 0.0  # added to integer values (e.g. +1024 for HU)
    window: tuple[float, float] | None = None  # when set, [lo, hi] → [0, 2**bit_depth - 1] (12-bit by default)
    float_range: tuple[float, float] | None = None  # float data scaled [lo, hi] → [0, 2**bit_depth - 1]

    @property
    def top(self) -> int:
        return 2**self.bit_depth - 1

    @property
    def dtype(self):
        return np.uint8 if self.bit_depth == 8 else np.uint16

    def apply(self, values: np.ndarray) -> np.ndarray:
        top = self.top
        if self.window is not None or self.float_range is not None:
            lo, hi = self.window or self.float_range
            scaled = (np.asarray(values, np.float64) - lo) * (top / (hi - lo))
            return np.clip(np.round(scaled), 0, top).astype(self.dtype)
        out = np.asarray(values, np.float64) + self.offset
        out = np.clip(np.round(out), 0, top)
        return out.astype(self.dtype)

    def describe(self) -> str:
        if self.window is not None:
            return f"window {self.window[0]:g}:{self.window[1]:g} mapped to 0..{self.top} ({self.bit_depth}-bit)"
        if self.float_range is not None:
            return (f"float values {self.float_range[0]:.4g}..{self.float_range[1]:.4g} scaled to 0..{self.top} "
                    f"({self.bit_depth}-bit)")
        shift = f" + {self.offset:g}" if self.offset else ""
        return f"stored = value{shift}, {self.bit_depth}-bit"

    def as_dict(self) -> dict:
        return {"bit_depth": self.bit_depth, "offset": self.offset, "window": self.window,
                "float_range": self.float_range, "meaning": self.describe()}


def plan_intensity(vmin: float, vmax: float, integer: bool, window=None, bits_stored: int | None = None,
                   source: str = "", bit_depth: int | None = None) -> IntensityMap:
    """Choose how a dataset's values are stored.

    - `window=(lo, hi)`: linear map of [lo, hi] onto 0..4095 (12-bit, or `bit_depth`), values outside clipped;
    - integer values: kept, shifted by +1024 when the minimum is in [-1024, 0) (CT HU) or by -min when
      lower still; bit depth 8 when everything fits in 0..255 and the source is ≤8 bits, else the
      smallest of 10/12/16 that holds the shifted maximum. A larger declared depth (DICOM BitsStored 16
      on values below 4096, as most CT scanners write) is not trusted: the PSNR peak and every dB target
      would be judged against 65535. That gives a `DataWarning`; `bit_depth=N` overrides;
    - non-integer floats: [min, max] scaled onto 0..4095 (12-bit, or `bit_depth`).
    """
    if window is not None:
        return IntensityMap(bit_depth or 12, window=tuple(window))
    if not integer:
        if not vmax > vmin:
            vmax = vmin + 1
        return IntensityMap(bit_depth or 12, float_range=(float(vmin), float(vmax)))
    offset = 0.0 if vmin >= 0 else 1024.0 if vmin >= -1024 else -float(vmin)
    top = vmax + offset
    if top > 65535:
        raise DatasetError(f"{source}: values {vmin:g}..{vmax:g} do not fit 16 bits; give window=LO:HI")
    if bit_depth is not None:
        if top > 2**bit_depth - 1:
            raise DatasetError(f"{source}: bit_depth={bit_depth} but the stored values reach {top:g} "
                               f"(more than {2**bit_depth - 1}); give a larger bit_depth or window=LO:HI")
        return IntensityMap(bit_depth, offset=offset)
    if top <= 255 and offset == 0 and (bits_stored is None or bits_stored <= 8):
        return IntensityMap(8)
    depth = depth_for_max(top)
    if bits_stored and bits_stored > 8:
        declared = next((d for d in BIT_DEPTHS if d >= bits_stored), 16)
        if declared > depth:
            shift = f" after the +{offset:g} shift" if offset else ""
            data_warning(f"{source}: BitsStored is {bits_stored} but the values{shift} stay within 0..{int(top)}: "
                         f"coded as {depth}-bit (PSNR peak {2**depth - 1}, not {2**declared - 1}); "
                         f"give bit_depth={declared} to keep {declared} bits")
    return IntensityMap(depth, offset=offset)


def is_integer_valued(values: np.ndarray) -> bool:
    if np.issubdtype(values.dtype, np.integer):
        return True
    finite = np.isfinite(values)
    return bool(finite.all() and np.all(np.mod(values, 1) == 0))


def finite_range(values: np.ndarray) -> tuple[float, float]:
    if not values.size:
        return 0.0, 0.0
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if math.isnan(lo):
        return 0.0, 0.0
    return lo, hi
