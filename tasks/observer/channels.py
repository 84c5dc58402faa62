"""Laguerre–Gauss channels, the usual CHO channels for rotationally symmetric signals.

u_j(r) = (√2 / a) · exp(−π r² / a²) · L_j(2π r² / a²), j = 0..J−1, with L_j the Laguerre
polynomial (the definition of the FDA/CDRH model-observer code, R. Zeng 2009). Each channel is
evaluated on the native pixel grid around a sub-pixel centre and scaled to unit norm there, so
channel outputs of lesions of different sizes are comparable.
"""

from __future__ import annotations

import numpy as np
from scipy.special import eval_laguerre


def laguerre_gauss(size: int, centre: tuple[float, float], width: float, n_channels: int) -> np.ndarray:
    """size²×J channel matrix on a size×size ROI whose pixel (0, 0) sits at offset 0; `centre` is
    (x, y) inside the ROI in pixels, `width` the Gaussian width a."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2
    arg = 2 * np.pi * r2 / width**2
    envelope = np.sqrt(2) / width * np.exp(-np.pi * r2 / width**2)
    u = np.stack([(envelope * eval_laguerre(j, arg)).ravel() for j in range(n_channels)], axis=1)
    return u / np.linalg.norm(u, axis=0, keepdims=True)
