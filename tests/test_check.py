"""`bench check` passes on an unchanged rerun and fails, naming the cell, when a result moved."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.errors import BenchError

CONFIG = """
runs:
  tiny:
    data: phantom
    codecs: [jpeg, jpeg2000]
    tasks: []
    limit: 2
    qualities: [40, 60]
tolerances:
  psnr: 0.01
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    (folder / "check.yaml").write_text(CONFIG)
    result = CliRunner().invoke(app, ["check", str(folder), "--update", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (folder / "tiny" / "results.parquet").is_file()
    return folder


def _perturb(folder, column: str, delta: float) -> None:
    path = folder / "tiny" / "results.parquet"
    frame = pd.read_parquet(path)
    row = frame.index[(frame.codec == "jpeg") & (frame.quality == 60)][0]
    frame.loc[row, column] = frame.loc[row, column] + delta
    frame.to_parquet(path, index=False)


def test_unchanged_code_passes(reference):
    result = CliRunner().invoke(app, ["check", str(reference), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_a_byte_or_a_psnr_beyond_tolerance_fails_and_is_named(reference, tmp_path):
    import shutil

    for column, delta in (("bytes", 1), ("psnr", 0.05)):
        folder = tmp_path / column
        shutil.copytree(reference, folder)
        _perturb(folder, column, delta)
        result = CliRunner().invoke(app, ["check", str(folder), "--quiet"], catch_exceptions=False)
        assert result.exit_code == 1, result.output
        assert "REGRESSION" in result.output and column in result.output and "jpeg" in result.output


def test_a_drift_within_tolerance_is_shown_but_passes(reference, tmp_path):
    import shutil

    folder = tmp_path / "drift"
    shutil.copytree(reference, folder)
    _perturb(folder, "psnr", 0.005)
    result = CliRunner().invoke(app, ["check", str(folder), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 regression(s), 1 change(s) within tolerance" in result.output


def test_a_folder_without_configuration_is_one_clear_error(tmp_path):
    with pytest.raises(BenchError, match="no check.yaml"):
        CliRunner().invoke(app, ["check", str(tmp_path)], catch_exceptions=False)
