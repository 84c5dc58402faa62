"""Image-quality figures computed against the bit depth's own peak (not 255, not 65535).

MS-SSIM is pytorch-msssim's algorithm (Wang et al. 2003: 5 scales, the weights 0.0448 … 0.1333,
an 11-tap Gaussian window of sigma 1.5 applied without padding, 2×2 average pooling that pads
odd sides with zeros, negative contrast terms clipped to 0), computed here in float64 NumPy
(each separable pass a sliding-window dot product). Why not call pytorch-msssim: a run of
classical codecs then needs no torch at all, which saved 3.5 s of import in every process (the main one and each
worker) and 40 ms of small torch convolutions per cell (about 5 ms here). pytorch-msssim stays
the reference: `tests/test_quality.py` holds this to it within 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_WIN_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def psnr(reference: np.ndarray, decoded: np.ndarray, bit_depth: int) -> float:
    peak = float((1 << bit_depth) - 1)
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def _gaussian_window(size: int) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(coords**2) / (2 * _WIN_SIGMA**2))
    return g / g.sum()


def _blur(planes: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Valid-mode separable Gaussian over the last two axes; a side shorter than the window is
    left unblurred, as pytorch-msssim does."""
    for axis in (-2, -1):
        if planes.shape[axis] >= len(win):
            planes = sliding_window_view(planes, len(win), axis=axis) @ win  # the window axis comes last
    return planes


def _ssim_terms(x: np.ndarray, y: np.ndarray, win: np.ndarray, peak: float) -> tuple[float, float]:
    """(mean SSIM, mean contrast-structure) of one plane at one scale."""
    c1, c2 = (_K1 * peak) ** 2, (_K2 * peak) ** 2
    mu_x, mu_y, xx, yy, xy = _blur(np.stack([x, y, x * x, y * y, x * y]), win)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return float(ssim_map.mean()), float(cs_map.mean())


def _halve(plane: np.ndarray) -> np.ndarray:
    """2×2 average pooling; an odd side is zero-padded by one on both ends, zeros counted."""
    pads = [(s % 2, s % 2) for s in plane.shape]
    plane = np.pad(plane, pads)
    h, w = (plane.shape[0] // 2) * 2, (plane.shape[1] // 2) * 2
    plane = plane[:h, :w]
    return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) / 4


def _ms_ssim_plane(x: np.ndarray, y: np.ndarray, win: np.ndarray, peak: float) -> float:
    factors = []
    for level in range(len(_MS_SSIM_WEIGHTS)):
        ssim, cs = _ssim_terms(x, y, win, peak)
        if level < len(_MS_SSIM_WEIGHTS) - 1:
            factors.append(max(cs, 0.0))
            x, y = _halve(x), _halve(y)
    factors.append(max(ssim, 0.0))
    return float(np.prod(np.array(factors) ** _MS_SSIM_WEIGHTS))


def ms_ssim(reference: np.ndarray, decoded: np.ndarray, bit_depth: int) -> float:
    """MS-SSIM over 5 scales, the mean over channels. The Gaussian window shrinks for small
    images (5 scales need a side > (win - 1) * 16); below a 3-pixel window it is undefined (NaN)."""
    side = min(reference.shape[:2])
    size = 11
    while size >= 3 and side <= (size - 1) * 2 ** (len(_MS_SSIM_WEIGHTS) - 1):
        size -= 2
    if size < 3:
        return math.nan
    win, peak = _gaussian_window(size), float((1 << bit_depth) - 1)
    ref, dec = reference.astype(np.float64), decoded.astype(np.float64)
    if ref.ndim == 2:
        return _ms_ssim_plane(ref, dec, win, peak)
    return float(np.mean([_ms_ssim_plane(ref[..., c], dec[..., c], win, peak) for c in range(ref.shape[2])]))
