"""The sweep: honest rows, failures recorded, cache reuse, clean errors, atomic results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench import registry
from bench.errors import BenchError
from bench.registry import Plugin
from bench.results import RESULT_COLUMNS, SUMMARY_COLUMNS, read_run, results_frame, summarize, write_run
from bench.runner import RunConfig, execute, plan
from codecs_for_tests import FlakyCodec


def _run(tmp_path, **kw):
    config = RunConfig(**{"codecs": ["jpeg"], "data": "phantom", "qualities": [30], "limit": 3,
                          "cache_dir": str(tmp_path / "cache"), **kw})
    p = plan(config)
    output = execute(p, show_progress=False)
    return p, output, results_frame(output.rows)


def test_rows_count_real_bytes(tmp_path):
    p, output, df = _run(tmp_path)
    assert list(df.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    rows = df[df.codec == "jpeg"]
    assert len(rows) == 3 and (rows.status == "ok").all()
    codec = p.codecs["jpeg"]
    for sample, (_, row) in zip(p.samples, rows.iterrows()):
        stream = codec.encode(sample.image, 30, sample.bit_depth)
        assert row.bytes == len(stream)
        assert row.bpp == pytest.approx(8 * len(stream) / (sample.image.shape[0] * sample.image.shape[1]))
        assert 20 < row.psnr < 80 and 0.5 < row.ms_ssim <= 1


def test_failing_cell_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.plugins("codec"), "flaky", Plugin("codec", "flaky", "tests", FlakyCodec))
    second = plan(RunConfig(codecs=["jpeg"], data="phantom", limit=3)).samples[1]
    monkeypatch.setattr(FlakyCodec, "fail_sums", {int(second.image.sum())})
    _, _, df = _run(tmp_path, codecs=["flaky", "jpeg"], qualities=[50])
    flaky = df[df.codec == "flaky"]
    assert (flaky.status == "failed").sum() == 1 and (flaky.status == "ok").sum() == 2
    assert "refuses odd images" in flaky[flaky.status == "failed"].error.iloc[0]
    assert (df[df.codec == "jpeg"].status == "ok").all()
    summary = summarize(df, {})
    row = summary[summary.codec == "flaky"].iloc[0]
    assert row.n_failed == 1 and row.n_images == 2


def test_unsupported_bit_depth_is_marked_not_failed(tmp_path):
    _, _, df = _run(tmp_path, codecs=["webp"], data="phantom:ct12", qualities=[50], limit=2)
    webp = df[df.codec == "webp"]
    assert (webp.status == "unsupported").all() and webp.error.str.contains("12-bit").all()


def test_rerun_computes_nothing_new(tmp_path):
    _, first, _ = _run(tmp_path, codecs=["jpeg", "jpeg2000"], qualities=None, limit=2)
    _, second, df = _run(tmp_path, codecs=["jpeg", "jpeg2000"], qualities=None, limit=2)
    assert first.cells_computed == 2 * 2 * 6 and first.cells_cached == 0
    assert second.cells_computed == 0 and second.cells_cached == first.cells_computed
    _, third, _ = _run(tmp_path, codecs=["jpeg", "jpeg2000", "jpegls"], qualities=None, limit=2)
    assert third.cells_computed == 2 * 5  # only the new codec's cells


def test_parallel_jobs_match_serial(tmp_path):
    _, _, serial = _run(tmp_path, use_cache=False, limit=2)
    _, _, parallel = _run(tmp_path, use_cache=False, limit=2, jobs=2)
    pd.testing.assert_series_equal(serial.bytes, parallel.bytes)


@pytest.mark.parametrize("change, message", [
    ({"codecs": ["jpgg"]}, "unknown codec 'jpgg'"),
    ({"qualities": [120]}, "outside 5..95"),
    ({"data": "nosuchdata"}, "unknown dataset 'nosuchdata'"),
    ({"tasks": ["segm"]}, "unknown task 'segm'"),
    ({"split": "holdout"}, "unknown split 'holdout'"),
    ({"limit": 0}, "--limit"),
    ({"device": "tpu"}, "--device"),
])
def test_bad_requests_fail_before_any_work(tmp_path, change, message):
    with pytest.raises(BenchError, match=message):
        _run(tmp_path, **change)


def test_results_folder_written_whole(tmp_path):
    _, output, df = _run(tmp_path)
    target = tmp_path / "out"
    write_run(target, df, summarize(df, {}), {"hello": 1})
    results, summary, manifest = read_run(target)
    assert len(results) == len(df) and manifest == {"hello": 1}
    assert list(summary.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert summary.codec.iloc[0] == "reference" and summary.codec.iloc[1] == "jpeg"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_results_write_failure_leaves_previous_folder(tmp_path, monkeypatch):
    _, _, df = _run(tmp_path)
    target = tmp_path / "out"
    write_run(target, df, summarize(df, {}), {"run": 1})
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        write_run(target, df, summarize(df, {}), {"run": 2})
    assert json.loads((target / "manifest.json").read_text()) == {"run": 1}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_reference_row_is_uncompressed(tmp_path):
    _, _, df = _run(tmp_path, data="phantom:ct12")
    ref = df[df.codec == "reference"]
    assert (ref.bpp == 12).all() and np.isinf(ref.psnr).all() and math.isnan(ref.quality.iloc[0])
