"""The CLI contract scripts and CI rely on: files, columns, exit codes, one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest


def test_run_writes_the_results_folder(cli, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", "--codecs", "jpeg,jpeg2000", "--data", "phantom:mr8", "--task", "none", "--limit", "2",
               "--quality", "30,40", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == 2 * (1 + 2 * 2)  # reference + 2 codecs × 2 qualities, 2 images
    assert pd.read_csv(out / "results.csv").shape == results.shape
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.codec) == ["reference", "jpeg", "jpeg", "jpeg2000", "jpeg2000"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"]["fingerprint"] and manifest["codecs"]["jpeg"]["backend"]
    assert manifest["packages"]["imagecodecs"] and "cpu_count" in manifest["machine"]
    assert "jpeg2000" in proc.stdout and "summary" in proc.stdout
    rerun = cli("run", "--codecs", "jpeg,jpeg2000", "--data", "phantom:mr8", "--task", "none", "--limit", "2",
                "--quality", "30,40", "--out", str(out), "--quiet")
    assert rerun.returncode == 0 and "0 cells computed, 8 from cache" in rerun.stderr


@pytest.mark.parametrize("args, culprit", [
    (["--codecs", "jpgg"], "jpgg"),
    (["--codecs", "jpeg", "--quality", "200"], "200"),
    (["--codecs", "jpeg", "--quality", "abc"], "abc"),
    (["--codecs", "jpeg", "--data", "folder:/no/such/dir"], "/no/such/dir"),
    (["--codecs", "jpeg", "--data", "unknownset"], "unknownset"),
    (["--codecs", "jpeg", "--task", "segment"], "segment"),
    (["--codecs", "jpeg", "--split", "holdout"], "holdout"),
    (["--codecs", "vvc:preset=fastest"], "fastest"),
    (["--codecs", "vvc:qp=30"], "qp"),
    (["--codecs", "bpg:preset"], "bpg:preset"),
    (["--codecs", "jpeg,jpeg"], "jpeg"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(cli, tmp_path, args, culprit):
    out = tmp_path / "never"
    data = [] if "--data" in args else ["--data", "phantom"]
    proc = cli("run", *args, *data, "--limit", "1", "--out", str(out), "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and culprit in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()


def test_help_shows_flags_without_a_value_type(cli):
    """typer 0.29 printed `--help <bool>` as if the flag took a value (issue 28 item 5)."""
    top, run = cli("--help"), cli("run", "--help")
    assert top.returncode == 0 and run.returncode == 0
    assert "--help" in top.stdout and "<bool>" not in top.stdout + run.stdout
    assert "<int>" in run.stdout  # options that take a value keep their type
