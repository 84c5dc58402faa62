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
