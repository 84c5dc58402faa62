"""`bench grid`: every codec's decoding of one image at a matched rate, with the task's prediction."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError


def test_grid_draws_each_codec_at_the_matched_rate(tmp_path):
    result = CliRunner().invoke(app, ["grid", "--data", "phantom", "--codecs", "jpeg2000,bpg", "--task", "none",
                                      "--bpp", "0.5", "--out", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    png = tmp_path / "grid_none_0.5bpp.png"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000
    assert (tmp_path / "grid_none_0.5bpp.pdf").is_file()


def test_grid_names_a_bad_image():
    with pytest.raises(BenchError, match="--image 'nope'"):
        CliRunner().invoke(app, ["grid", "--data", "phantom", "--task", "none", "--image", "nope"], catch_exceptions=False)


def test_lesion_close_ups_show_the_smallest_and_then_the_faintest_lesion():
    from bench.analysis.grid import _crop, close_up_lesions

    records = [{"cx": 50.0, "cy": 60.0, "diameter_mm": 6.0, "contrast": -0.04},
               {"cx": 5.0, "cy": 8.0, "diameter_mm": 2.1, "contrast": 0.25},
               {"cx": 90.0, "cy": 40.0, "diameter_mm": 9.0, "contrast": 0.12}]
    picks = close_up_lesions(records)
    assert [r["diameter_mm"] for _, r in picks] == [2.1, 6.0]
    assert picks[0][0].startswith("smallest lesion: 2.1 mm, +25%") and picks[1][0].startswith("faintest lesion: 6.0 mm, -4%")
    assert close_up_lesions([]) == [] and len(close_up_lesions(records[:1])) == 1
    rows, cols = _crop(records[1], (100, 100))  # a lesion by the border: the crop stays inside the image
    assert (rows.start, rows.stop, cols.start, cols.stop) == (0, 32, 0, 32)
