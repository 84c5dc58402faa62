"""Issue 26: two runs sharing one cache folder, started together on overlapping cells, both give a
lone run's table, and a cache entry damaged by hand is recomputed, not read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["codec", "quality", "bpp", "psnr", "ms_ssim", "n_images"]


def _start(out: Path, cache: Path, qualities: str) -> subprocess.Popen:
    args = ["run", "--codecs", "jpeg,webp,jpegls", "--data", "phantom", "--quality", qualities, "--limit", "6",
            "-j", "1", "--quiet", "--out", str(out)]
    return subprocess.Popen([sys.executable, "-c", "from bench.cli import main; main()", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "BENCH_CACHE_DIR": str(cache)})


def _table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "summary.csv")[COLUMNS].sort_values(["codec", "quality"], na_position="first").reset_index(drop=True)


def test_two_runs_sharing_a_cache_agree_with_a_lone_run(tmp_path):
    shared = tmp_path / "cache"
    a, b = _start(tmp_path / "a", shared, "10,30,50"), _start(tmp_path / "b", shared, "30,50,70")
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    lone = _start(tmp_path / "lone", tmp_path / "own-cache", "10,30,50,70")
    assert lone.communicate(timeout=300) and lone.returncode == 0
    whole = _table(tmp_path / "lone")
    for run, qualities in (("a", [10, 30, 50]), ("b", [30, 50, 70])):
        expected = whole[whole.quality.isna() | whole.quality.isin(qualities)].reset_index(drop=True)
        pd.testing.assert_frame_equal(_table(tmp_path / run), expected)
    again = _start(tmp_path / "again", shared, "10,30,50,70")  # the shared entries read back whole
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and "0 cells computed" in err
    pd.testing.assert_frame_equal(_table(tmp_path / "again"), whole)


def test_a_cache_entry_damaged_by_hand_is_recomputed_not_read(tmp_path):
    cache = tmp_path / "cache"
    first = _start(tmp_path / "first", cache, "50")
    assert first.communicate(timeout=300) and first.returncode == 0
    streams = sorted(cache.rglob("stream.bin"))
    rows = sorted(cache.rglob("row.json"))
    streams[0].write_bytes(streams[0].read_bytes()[:-7])  # truncated
    rows[-1].write_text(rows[-1].read_text()[:20])  # cut mid-JSON
    damaged = {streams[0].parent, rows[-1].parent}
    again = _start(tmp_path / "again", cache, "50")
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and f"{len(damaged)} cells computed" in err
    pd.testing.assert_frame_equal(_table(tmp_path / "again"), _table(tmp_path / "first"))
