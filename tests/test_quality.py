"""PSNR and MS-SSIM: our NumPy MS-SSIM against pytorch-msssim, the library it replaces in the
sweep, and a run of classical codecs that never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bench.quality import ms_ssim, psnr

SHAPES = [((181, 217), 8), ((217, 181), 8), ((181, 217, 3), 8), ((170, 170), 12), ((170, 170), 16),
          ((100, 90), 8), ((65, 300), 8), ((33, 40), 8)]


def _pair(shape, bit_depth, seed=0):
    rng = np.random.default_rng(seed)
    peak = (1 << bit_depth) - 1
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    base = (np.sin(yy / 9.0) * np.cos(xx / 13.0) + 1) / 2 * peak
    base = base[..., None].repeat(shape[2], -1) if len(shape) == 3 else base
    reference = np.clip(base + rng.normal(0, peak * 0.05, shape), 0, peak)
    decoded = np.clip(reference + rng.normal(0, peak * 0.04, shape), 0, peak)
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    return reference.astype(dtype), decoded.astype(dtype)


@pytest.mark.parametrize("shape,bit_depth", SHAPES)
def test_ms_ssim_equals_pytorch_msssim(shape, bit_depth):
    """Both in float64 (pytorch-msssim builds its window in float32, hence 1e-6, not 1e-12)."""
    import torch
    from pytorch_msssim import ms_ssim as library

    reference, decoded = _pair(shape, bit_depth)
    side, win = min(shape[:2]), 11
    while side <= (win - 1) * 16:
        win -= 2

    def tensor(a):
        t = torch.from_numpy(a.astype(np.float64))
        return t[None, None] if a.ndim == 2 else t.permute(2, 0, 1)[None]

    expected = float(library(tensor(reference), tensor(decoded), data_range=float((1 << bit_depth) - 1), win_size=win))
    assert 0.3 < expected < 0.999
    assert ms_ssim(reference, decoded, bit_depth) == pytest.approx(expected, abs=1e-6)


def test_ms_ssim_is_one_for_identical_images_and_nan_when_too_small():
    reference, _ = _pair((181, 217), 8)
    assert ms_ssim(reference, reference, 8) == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(ms_ssim(reference[:30, :30], reference[:30, :30], 8))


def test_psnr_uses_the_bit_depth_peak():
    reference = np.full((8, 8), 1000, np.uint16)
    decoded = reference + 1
    assert psnr(reference, decoded, 12) == pytest.approx(20 * np.log10(4095))
    assert psnr(reference, reference, 12) == float("inf")


CLASSICAL_RUN = """
import json, sys
from bench.api import run
from bench.runner import RunConfig
result = run(RunConfig(codecs=["jpeg", "jpeg2000"], data="phantom", limit=2, jobs=int(sys.argv[2]), device="cpu",
                       cache_dir=sys.argv[1] + "/cache"), out=sys.argv[1] + "/out")
print(json.dumps({"computed": result.cells_computed, "ok": bool((result.results["status"] == "ok").all()),
                  "ms_ssim": float(result.results["ms_ssim"].min()), "torch": "torch" in sys.modules}))
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_classical_sweep_never_imports_torch(tmp_path, jobs):
    """In the main process, computing cells itself (-j 1) or collecting a pool's rows (-j 2)."""
    proc = subprocess.run([sys.executable, "-c", CLASSICAL_RUN, str(tmp_path), str(jobs)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["computed"] > 10 and report["ok"] and 0.5 < report["ms_ssim"] <= 1
    assert report["torch"] is False
