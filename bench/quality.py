"""Image-quality figures computed against the bit depth's own peak (not 255, not 65535)."""

from __future__ import annotations

import math

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim

_MS_SSIM_SCALES = 5


def psnr(reference: np.ndarray, decoded: np.ndarray, bit_depth: int) -> float:
    peak = float((1 << bit_depth) - 1)
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def ms_ssim(reference: np.ndarray, decoded: np.ndarray, bit_depth: int) -> float:
    """MS-SSIM (pytorch-msssim, 5 scales). The Gaussian window shrinks for small images
    (5 scales need a side > (win - 1) * 16); below a 3-pixel window it is undefined (NaN)."""
    side = min(reference.shape[:2])
    win = 11
    while win >= 3 and side <= (win - 1) * 2 ** (_MS_SSIM_SCALES - 1):
        win -= 2
    if win < 3:
        return math.nan

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(a.astype(np.float32))
        return (t[None, None] if a.ndim == 2 else t.permute(2, 0, 1)[None])

    with torch.no_grad():
        value = _ms_ssim(as_tensor(reference), as_tensor(decoded), data_range=float((1 << bit_depth) - 1), win_size=win)
    return float(value)
