"""Summary figures a reader can trust: an exactly coded image does not turn a group's PSNR into
inf (it is counted in `n_exact`), unsupported cells are counted and their reason printed, and the
manifest records the cache folder actually used."""

from __future__ import annotations

import json
import math

import pandas as pd
from typer.testing import CliRunner

from bench.cli import app
from bench.results import summarize


def test_exact_images_are_counted_not_averaged_into_inf():
    rows = pd.DataFrame([{"codec": "c", "quality": 1.0, "image_id": i, "bpp": 0.1, "psnr": p, "ms_ssim": 0.9, "status": "ok"}
                         for i, p in enumerate([30.0, 40.0, math.inf])])
    summary = summarize(rows, {}).iloc[0]
    assert summary.psnr == 35.0 and summary.n_exact == 1
    exact = summarize(rows.assign(psnr=math.inf), {}).iloc[0]
    assert exact.psnr == math.inf and exact.n_exact == 3


def test_unsupported_cells_are_counted_and_explained(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))  # read when the run makes its cache
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--data", "phantom", "--codecs", "webp", "--task", "none", "--quality", "50",
                                      "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    webp = summary[summary.codec == "webp"].iloc[0]
    assert webp.n_unsupported > 0 and webp.n_images + webp.n_unsupported == summary[summary.codec == "reference"].n_images.iloc[0]
    assert "n_unsupported" in result.output and "cell(s) unsupported: codec 'webp' does not support 12-bit" in result.output
    assert json.loads((out / "manifest.json").read_text())["config"]["cache_dir"] == str(cache)
