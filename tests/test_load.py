"""Issue 26, load: a sweep's resident memory stays flat as the dataset grows (the decoded images of
a finished group are dropped; rows are small). Slow: ~2.5 minutes on one core."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

PEAK_RSS = """
import resource, sys
from bench.cli import main
try:
    main()
finally:
    print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_kb(folder, limit: int, out) -> int:
    args = ["run", "--codecs", "jpeg,jpeg2000", "--quality", "30,60", "--data", f"folder:{folder},split=test", "--limit", str(limit),
            "--quiet", "-j", "1", "--no-cache", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(next(l for l in proc.stderr.splitlines() if l.startswith("PEAK_KB")).split()[1])


@pytest.mark.slow
def test_peak_memory_stays_flat_from_500_to_5000_images(tmp_path):
    from PIL import Image
    from scipy import ndimage

    rng = np.random.default_rng(0)
    (tmp_path / "d" / "images").mkdir(parents=True)
    base = ndimage.gaussian_filter(rng.normal(128, 40, (128, 128)), 3)
    for i in range(5000):
        image = np.clip(np.roll(base, i % 97, axis=0) + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(tmp_path / "d" / "images" / f"im{i:05d}.png")
    small, large = _peak_kb(tmp_path / "d", 500, tmp_path / "o500"), _peak_kb(tmp_path / "d", 5000, tmp_path / "o5000")
    print(f"peak RSS: {small / 1024:.0f} MB at 500 images, {large / 1024:.0f} MB at 5000")
    # the 5,000 images themselves are 82 MB of pixels held by the dataset; everything else must not grow with them
    assert large - small < 82 * 1024 + 64 * 1024
