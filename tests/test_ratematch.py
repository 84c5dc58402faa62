"""`bench run --bpp`: every codec lands on the quality whose mean bpp is closest to each target,
within tolerance where the codec can reach it, and says so where it cannot."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError


def test_codecs_are_matched_to_the_targets(tmp_path):
    out = tmp_path / "run"
    args = ["run", "--data", "phantom", "--codecs", "jpeg2000,bpg,jpeg", "--task", "none", "--limit", "3",
            "--bpp", "0.3,0.8,0.0001", "--bpp-tolerance", "0.1", "--out", str(out), "--quiet", "--no-cache"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    matches = json.loads((out / "manifest.json").read_text())["rate_match"]
    for codec, within in (("jpeg2000", 0.1), ("bpg", 0.25)):  # bpg's QP is an integer: one step moves bpp ~12%
        reachable = [m for m in matches[codec] if m["target"] >= 0.3]
        assert all(abs(m["bpp"] / m["target"] - 1) <= within for m in reachable), matches[codec]
    assert all(m["within_tolerance"] for m in matches["jpeg2000"] if m["target"] >= 0.3)
    assert not any(m["within_tolerance"] for codec in matches for m in matches[codec] if m["target"] == 0.0001)
    import pandas as pd

    summary = pd.read_parquet(out / "summary.parquet")
    for codec, found in matches.items():  # the sweep ran exactly at the matched qualities
        assert set(summary[summary.codec == codec].quality) == {m["quality"] for m in found}


def test_bpp_and_quality_together_is_one_clear_error():
    with pytest.raises(BenchError, match="--bpp and --quality"):
        CliRunner().invoke(app, ["run", "--data", "phantom", "--codecs", "jpeg", "--task", "none", "--bpp", "0.2",
                                 "--quality", "50", "--quiet"], catch_exceptions=False)
    with pytest.raises(BenchError, match="--bpp 'a'"):
        CliRunner().invoke(app, ["run", "--codecs", "jpeg", "--bpp", "a"], catch_exceptions=False)
