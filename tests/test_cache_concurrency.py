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


FULL_DISK = """
import errno, sys
import bench.cache as cache
calls, real, allowed = [0], cache.atomic_write, int(sys.argv.pop(1))
def failing(path, data):
    calls[0] += 1
    if calls[0] > allowed:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    return real(path, data)
cache.atomic_write = failing
from bench.cli import main
main()
"""


def test_a_full_disk_ends_the_run_in_one_line_and_the_rerun_continues(tmp_path):
    cache = tmp_path / "cache"
    args = ["run", "--codecs", "jpeg", "--data", "phantom", "--limit", "3", "--quiet", "-j", "1", "--out", str(tmp_path / "out")]
    env = {**os.environ, "BENCH_CACHE_DIR": str(cache)}
    full = subprocess.run([sys.executable, "-c", FULL_DISK, "5", *args], capture_output=True, text=True, env=env, timeout=300)
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert full.returncode != 0 and "Traceback" not in full.stderr
    assert errors == [f"error: cache folder {cache}: cannot write (No space left on device); free space there, "
                      "point BENCH_CACHE_DIR elsewhere, or run with --no-cache"]
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))  # no results folder, whole or half
    rerun = subprocess.run([sys.executable, "-c", "from bench.cli import main; main()", *args], capture_output=True, text=True,
                           env=env, timeout=300)
    assert rerun.returncode == 0 and " 2 from cache" in rerun.stderr  # the two whole entries; the half one is not read
    assert (tmp_path / "out" / "summary.csv").is_file()
