"""A `bench run` killed with SIGKILL mid-sweep leaves no results folder behind, and the same
command again computes only the missing cells and gives the table an uninterrupted run gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

TIMING = ["encode_s", "decode_s"]


def _bench(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bench.cli import main; main()", *args]


def _cells(cache: Path) -> int:
    return sum(1 for _ in cache.rglob("row.json")) if cache.is_dir() else 0


def test_kill_9_then_the_same_command_resumes_to_the_uninterrupted_table(tmp_path):
    cache, killed_out, clean_out = tmp_path / "cache", tmp_path / "killed", tmp_path / "clean"
    sweep = ["run", "--data", "phantom", "--codecs", "jpeg2000,bpg,webp", "--task", "none", "--limit", "6", "--quiet"]
    proc = subprocess.Popen(_bench(*sweep, "--cache-dir", str(cache), "--out", str(killed_out)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _cells(cache) < 15 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = _cells(cache)
    assert not killed_out.exists() and not list(tmp_path.glob(".killed.tmp-*"))  # nothing half-written

    again = subprocess.run(_bench(*sweep, "--cache-dir", str(cache), "--out", str(killed_out)), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"{finished_before} from cache" in again.stderr  # only the missing cells were computed
    clean = subprocess.run(_bench(*sweep, "--no-cache", "--out", str(clean_out)), capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr

    resumed = pd.read_parquet(killed_out / "results.parquet").drop(columns=TIMING)
    uninterrupted = pd.read_parquet(clean_out / "results.parquet").drop(columns=TIMING)
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    pd.testing.assert_frame_equal(pd.read_csv(killed_out / "summary.csv"), pd.read_csv(clean_out / "summary.csv"))


def test_every_torch_load_in_the_code_is_weights_only():
    """Issue 26: no pickled code runs on load, resume files included (their numpy RNG state is allowlisted)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    calls = []
    for folder in ("bench", "codecs", "tasks"):
        for path in (root / folder).rglob("*.py"):
            for match in re.finditer(r"torch\.load\((.*)", path.read_text()):  # the rest of the line
                calls.append((path.relative_to(root), match.group(1)))
    assert calls  # the resume reader at least
    assert [c for c in calls if "weights_only=True" not in c[1]] == []
