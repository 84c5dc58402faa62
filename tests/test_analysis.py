"""Analysis of a results folder: the reader, task BD-rate (checked against the JVET piecewise
cubic written out here), its refusals, bootstrap intervals, task-lossless ratios and tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.analysis.bdrate import bd_rate_of, bd_rates
from bench.analysis.lossless import lossless_interval, lowest_lossless_bpp, lossless_ratios
from bench.analysis.reader import read_results
from bench.analysis.table import render, table_frame
from bench.cli import app
from bench.errors import BenchError
from bench.results import write_run

PAPER = {  # the paper's Table 1 (CVC-ColonDB): bpp, mIoU (stage 2 for MVMICNet)
    "cheng2020-anchor": ([0.068, 0.089, 0.112, 0.137], [0.6971, 0.7435, 0.7898, 0.8192]),
    "mbt2018-mean": ([0.080, 0.094, 0.111, 0.130], [0.6135, 0.6745, 0.7220, 0.7548]),
    "mvmicnet-stage2": ([0.065, 0.083, 0.105, 0.131], [0.8226, 0.8317, 0.8490, 0.8645]),
}


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson monotone slopes, weighted harmonic mean inside, three-point ends."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    d = np.zeros_like(y)
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    for end, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])), (-1, (h[-1], h[-2], delta[-1], delta[-2]))):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            s = 0.0
        elif np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            s = 3 * d0
        d[end] = s
    return d


def _hermite_integral(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """∫ of the piecewise cubic Hermite interpolant from `low` to `high`, by Gauss–Legendre per piece."""
    d = _pchip_slopes(x, y)
    nodes, weights = np.polynomial.legendre.leggauss(5)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(x[k], low), min(x[k + 1], high)
        if b <= a:
            continue
        t_nodes = ((b - a) * nodes + (a + b)) / 2
        h = x[k + 1] - x[k]
        t = (t_nodes - x[k]) / h
        value = ((2 * t**3 - 3 * t**2 + 1) * y[k] + (t**3 - 2 * t**2 + t) * h * d[k]
                 + (-2 * t**3 + 3 * t**2) * y[k + 1] + (t**3 - t**2) * h * d[k + 1])
        total += (b - a) / 2 * float(weights @ value)
    return total


def jvet_bd_rate(rate_a, psnr_a, rate_t, psnr_t) -> float:
    """BD-rate as JVET defines it: log-rate as a pchip function of quality, averaged over the overlap."""
    ya, yt = np.log10(rate_a), np.log10(rate_t)
    low, high = max(min(psnr_a), min(psnr_t)), min(max(psnr_a), max(psnr_t))
    diff = (_hermite_integral(np.asarray(psnr_t), yt, low, high) - _hermite_integral(np.asarray(psnr_a), ya, low, high)) / (high - low)
    return (10**diff - 1) * 100


CURVES = [  # (anchor rate, anchor psnr, test rate, test psnr): JVET CTC-like four-point curves, and uneven ones
    ([9487.76, 4593.60, 2486.44, 1358.24], [40.28, 37.18, 34.24, 31.42], [9787.80, 4469.00, 2451.69, 1356.44], [40.39, 37.21, 34.17, 31.24]),
    ([0.1, 0.2, 0.4, 0.8], [30.0, 33.1, 36.0, 38.5], [0.09, 0.15, 0.33, 0.7, 1.1], [30.2, 32.0, 35.9, 38.9, 40.1]),
    ([0.05, 0.08, 0.2, 0.5, 0.9], [0.55, 0.61, 0.66, 0.69, 0.70], [0.04, 0.1, 0.3, 0.6], [0.52, 0.63, 0.68, 0.695]),
]


@pytest.mark.parametrize("ra, pa, rt, pt", CURVES)
def test_bd_rate_equals_the_jvet_piecewise_cubic_written_out(ra, pa, rt, pt):
    order_a, order_t = np.argsort(ra), np.argsort(rt)
    anchor = (np.asarray(ra)[order_a], np.asarray(pa)[order_a])
    test = (np.asarray(rt)[order_t], np.asarray(pt)[order_t])
    value, overlap, status, _ = bd_rate_of(anchor, test, min_overlap=0)
    assert status == "ok"
    assert value == pytest.approx(jvet_bd_rate(*anchor, *test), abs=1e-6)


def test_same_quality_at_ninety_percent_of_the_bits_is_minus_ten_percent():
    rate, quality = np.array([0.1, 0.2, 0.4, 0.8]), np.array([30.0, 33.0, 35.5, 37.0])
    value, overlap, status, _ = bd_rate_of((rate, quality), (0.9 * rate, quality))
    assert status == "ok" and overlap == 1.0
    assert value == pytest.approx(-10.0, abs=1e-9)


def test_lower_is_better_metrics_are_turned_around():
    rate, hd95 = np.array([0.1, 0.2, 0.4, 0.8]), np.array([30.0, 22.0, 16.0, 14.0])
    value, _, status, _ = bd_rate_of((rate, hd95), (0.8 * rate, hd95), higher_is_better=False)
    assert status == "ok" and value == pytest.approx(-20.0, abs=1e-9)


def test_no_number_for_a_curve_that_is_not_monotone_unless_its_rising_part_is_asked_for():
    anchor = (np.array([0.1, 0.2, 0.4, 0.8]), np.array([0.60, 0.64, 0.66, 0.67]))
    wiggly = (np.array([0.1, 0.2, 0.3, 0.6, 0.9]), np.array([0.62, 0.655, 0.665, 0.664, 0.668]))
    value, _, status, _ = bd_rate_of(anchor, wiggly)
    assert math.isnan(value) and status.startswith("test not monotone: falls from 0.665 at 0.3 bpp")
    value, _, status, used = bd_rate_of(anchor, wiggly, rising_part=True)
    assert status == "ok" and used == 3 and value < 0


def test_the_papers_own_table_gets_no_number_for_mvmicnet_stage_2():
    """Its curve lies above every anchor's: no common mIoU to compare at (see ../shared/paper)."""
    test = tuple(map(np.asarray, PAPER["mvmicnet-stage2"]))
    for anchor in ("cheng2020-anchor", "mbt2018-mean"):
        value, overlap, status, _ = bd_rate_of(tuple(map(np.asarray, PAPER[anchor])), test)
        assert math.isnan(value) and overlap == 0.0 and status.startswith("overlap 0%")
    cheng, mbt = tuple(map(np.asarray, PAPER["cheng2020-anchor"])), tuple(map(np.asarray, PAPER["mbt2018-mean"]))
    assert bd_rate_of(cheng, mbt)[2] == "overlap 47% of the narrower metric range < 50%"
    value, overlap, status, _ = bd_rate_of(cheng, mbt, min_overlap=0.25)
    assert status == "ok" and value > 0  # with a laxer overlap: mbt2018 needs more bits than cheng2020 there


def test_lossless_point_is_where_the_metric_stays_within_tolerance():
    bpp = np.array([0.1, 0.2, 0.3, 0.5, 0.8])
    assert lowest_lossless_bpp(bpp, np.array([0.60, 0.66, 0.64, 0.67, 0.68]), 0.68, 0.02, True) == 0.5  # 0.2 dips back out at 0.3
    assert lowest_lossless_bpp(bpp, np.array([0.67, 0.67, 0.67, 0.67, 0.68]), 0.68, 0.02, True) == 0.1
    assert math.isnan(lowest_lossless_bpp(bpp, np.array([0.5, 0.6, 0.62, 0.63, 0.64]), 0.68, 0.02, True))
    assert lowest_lossless_bpp(bpp, np.array([30.0, 20.0, 15.0, 14.0, 13.0]), 12.0, 2.0, False) == 0.5


def _folder(tmp_path, n_images: int = 12, seed: int = 0):
    """A results folder by hand: 'good' codes at 0.8× the rate of 'base' with the same Dice, 'bad' at 1.5×."""
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.8, 1.2, n_images)
    rows = []
    for i in range(n_images):
        rows.append({"codec": "reference", "codec_options": "{}", "quality": math.nan, "image_id": f"im{i}", "bytes": 100,
                     "bpp": 8.0, "psnr": math.inf, "ms_ssim": 1.0, "status": "ok", "bit_depth": 8, "channels": 1,
                     "modality": "MR", "dice": 0.8 - 0.05 * difficulty[i] + rng.normal(0, 0.005), "hd95": 5.0})
    for codec, scale in (("base", 1.0), ("good", 0.8), ("bad", 1.5)):
        for q, rate in enumerate([0.05, 0.1, 0.2, 0.4, 0.8]):
            for i in range(n_images):
                bpp = scale * rate * difficulty[i]
                dice = 0.8 - 0.05 * difficulty[i] - 0.01 / (rate * difficulty[i]) + rng.normal(0, 0.002)
                rows.append({"codec": codec, "codec_options": "{}", "quality": float(q), "image_id": f"im{i}", "bytes": 10,
                             "bpp": bpp, "psnr": 30 + 10 * np.log10(rate / 0.05), "ms_ssim": 0.9, "status": "ok", "bit_depth": 8,
                             "channels": 1, "modality": "MR", "dice": dice, "hd95": 5.0 + 0.1 / rate})
    results = pd.DataFrame(rows)
    summary = results.groupby(["codec", "quality"], dropna=False, sort=False)[["bpp", "psnr", "ms_ssim", "dice", "hd95"]].mean().reset_index()
    summary["n_images"], summary["n_failed"], summary["miou"] = n_images, 0, 0.5
    manifest = {"schema_version": 2, "metric_directions": {"dice": "higher", "hd95": "lower", "bpp": "lower"}}
    return write_run(tmp_path / "run", results, summary, manifest)


def test_bd_rates_on_a_folder_find_the_known_saving_with_an_interval(tmp_path):
    folder = read_results(_folder(tmp_path))
    records = {r.codec: r for r in bd_rates(folder, "base", "dice", n_draws=200)}
    good, bad = records["good"], records["bad"]
    assert good.status == "ok" and bad.status == "ok"
    assert good.ci_low <= -20 + 3 and good.ci_high >= -20 - 3 and good.ci_low < good.bd_rate < good.ci_high
    assert bad.bd_rate == pytest.approx(50, abs=8) and bad.ci_low > 0
    hd95 = {r.codec: r for r in bd_rates(folder, "base", "hd95", n_draws=0)}
    assert hd95["good"].bd_rate == pytest.approx(-20, abs=1e-6)  # hd95 is lower-is-better: turned around, same saving
    miou = bd_rates(folder, "base", "miou", n_draws=50, strict=True)[0]
    assert miou.status.startswith("anchor not monotone")  # a flat dataset-level figure
    enveloped = bd_rates(folder, "base", "miou", n_draws=50)[0]  # the default: its envelope keeps one point, too few
    assert enveloped.status != "ok" and "rate point" in enveloped.status


def test_a_folder_builds_each_curve_once_and_reweights_each_draw_set_once(tmp_path):
    from bench.analysis.curves import curve, draws

    folder = read_results(_folder(tmp_path))
    images = sorted(set(folder.results.image_id))
    first = curve(folder, "base", "dice", images)
    assert curve(folder, "base", "dice", images) is first and curve(folder, "good", "dice", images) is not first
    a, b = draws(len(images), 50, seed=0), draws(len(images), 50, seed=1)
    assert first.resampled(a) is first.resampled(a)
    assert not np.array_equal(first.resampled(a)[1], first.resampled(b)[1])  # other draws, other values
    fresh = read_results(folder.path)  # a folder read anew computes everything again, to the same numbers
    again = {r.codec: r.record() for r in bd_rates(folder, "base", "dice", n_draws=100)}
    assert again == {r.codec: r.record() for r in bd_rates(fresh, "base", "dice", n_draws=100)}
    assert again == {r.codec: r.record() for r in bd_rates(folder, "base", "dice", n_draws=100)}


def test_a_task_curve_that_wiggles_is_read_through_its_monotone_envelope():
    from bench.analysis.bdrate import _monotone_part

    bpp, dice = np.array([0.1, 0.2, 0.4, 0.8, 1.6]), np.array([0.60, 0.66, 0.65, 0.67, 0.67])
    kept, values, why = _monotone_part(bpp, dice, 1.0, "envelope")
    assert why is None and kept.tolist() == [0.1, 0.2, 0.8] and values.tolist() == [0.60, 0.66, 0.67]
    assert _monotone_part(bpp, dice, 1.0, False)[2].startswith("not monotone")
    assert _monotone_part(bpp, dice, 1.0, True)[0].tolist() == [0.1, 0.2]  # rising part: up to the first drop
    hd95 = np.array([9.0, 7.0, 7.5, 5.0, 5.0])  # lower is better: sign −1
    assert _monotone_part(bpp, hd95, -1.0, "envelope")[0].tolist() == [0.1, 0.2, 0.8]


def test_lossless_interval_counts_draws_that_never_reach_tolerance_as_above_every_rate():
    draws_bpp = [0.2] * 90 + [math.nan] * 10  # 10% of draws: no point within tolerance
    low, high = lossless_interval(draws_bpp)
    assert low == 0.2 and high == math.inf  # dropping the failed draws would have said [0.2, 0.2]
    assert lossless_interval([0.1, 0.2, 0.3] * 40) == (0.1, 0.3)
    assert all(math.isnan(v) for v in lossless_interval([math.nan] * 5))


def test_lossless_ratio_is_against_the_stored_bits_and_sits_beside_the_guideline(tmp_path):
    folder = read_results(_folder(tmp_path))
    by_codec = {r.codec: r for r in lossless_ratios(folder, "dice", n_draws=100)}
    assert by_codec["good"].stored_bpp == 8.0 and by_codec["good"].guideline_ratio == 24.0
    assert by_codec["good"].ratio == pytest.approx(8.0 / by_codec["good"].bpp)
    assert by_codec["good"].bpp < by_codec["bad"].bpp
    assert by_codec["good"].bpp_ci_low <= by_codec["good"].bpp <= by_codec["good"].bpp_ci_high


def test_table_has_intervals_and_three_formats(tmp_path):
    folder = read_results(_folder(tmp_path))
    frame = table_frame(folder, ["dice", "psnr"], n_draws=100)
    row = frame[(frame.codec == "good") & (frame.quality == 2.0)].iloc[0]
    assert row.dice_lo < row.dice < row.dice_hi
    assert "| good | 2 |" in render(frame, ["dice", "psnr"], "md")
    assert r"\toprule" in render(frame, ["dice"], "latex")
    assert render(frame, ["dice"], "csv").startswith("codec,quality")
    with pytest.raises(BenchError, match="--format 'xls'"):
        render(frame, ["dice"], "xls")


def test_reader_refuses_what_is_not_a_results_folder(tmp_path):
    with pytest.raises(BenchError, match="no such results folder"):
        read_results(tmp_path / "missing")
    with pytest.raises(BenchError, match="not a results folder"):
        read_results(tmp_path)
    run = _folder(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(BenchError, match="schema 99 is newer"):
        read_results(run)


def test_cli_bdrate_json_records_and_one_line_errors(tmp_path):
    run = _folder(tmp_path)
    result = CliRunner().invoke(app, ["bdrate", str(run), "--anchor", "base", "--metric", "dice", "--draws", "50", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {"codec", "anchor", "metric", "bd_rate", "ci_low", "ci_high", "overlap", "status"} <= set(records[0])
    assert {r["codec"] for r in records} == {"good", "bad"}
    for args, message in ((["--anchor", "vvc"], "--anchor 'vvc'"), (["--anchor", "base", "--metric", "nope"], "--metric 'nope'")):
        with pytest.raises(BenchError, match=message):
            CliRunner().invoke(app, ["bdrate", str(run), *args], catch_exceptions=False)


def test_map_is_re_weighted_from_the_stored_detections(tmp_path):
    """With every image drawn once the re-weighted mAP equals faster-coco-eval's on the same rows."""
    pytest.importorskip("faster_coco_eval")
    from bench.analysis.curves import curve
    from bench.tasks.det.metrics import boxes_json, coco_map

    rng = np.random.default_rng(3)
    names = [f"c{k}" for k in range(5)]
    truth = []
    for _ in range(8):
        corner = rng.uniform(0, 150, (4, 2))
        truth.append((np.concatenate([corner, corner + rng.uniform(8, 40, (4, 2))], 1), rng.integers(0, 5, 4)))
    rows, summary = [], []
    for codec, quality, noise in (("reference", math.nan, 0.5), ("c", 0.0, 6.0), ("c", 1.0, 3.0), ("c", 2.0, 1.0)):
        gt, dt = [], []
        for i, (boxes, labels) in enumerate(truth):
            found = boxes + rng.normal(0, noise, boxes.shape)
            found[:, 2:] = np.maximum(found[:, 2:], found[:, :2] + 1)  # never inverted, as a detector's boxes
            scores = rng.uniform(0.3, 1, len(found))
            gt.append(((217, 181), boxes, labels))
            dt.append((found, scores, labels))
            rows.append({"codec": codec, "codec_options": "{}", "quality": quality, "image_id": f"im{i}", "bytes": 1,
                         "bpp": 8.0 if codec == "reference" else 0.1 * 2**quality, "psnr": 30.0, "ms_ssim": 0.9, "status": "ok",
                         "bit_depth": 8, "channels": 1, "det_boxes": boxes_json(found, labels, scores), "gt_boxes": boxes_json(boxes, labels)})
        scores = coco_map(gt, dt, names)
        summary.append({"codec": codec, "quality": quality, "bpp": rows[-1]["bpp"], "psnr": 30.0, "ms_ssim": 0.9, "n_images": 8,
                        "n_failed": 0, "map50": scores["map50"], "map50_95": scores["map50_95"]})
    folder = read_results(write_run(tmp_path / "run", pd.DataFrame(rows), pd.DataFrame(summary), {"schema_version": 2}))
    images = [f"im{i}" for i in range(8)]
    for metric in ("map50", "map50_95"):
        c = curve(folder, "c", metric, images)
        assert c.resamplable and not c.per_image
        _, resampled = c.resampled(np.ones((1, 8)))
        np.testing.assert_allclose(resampled[0], c.points()[1], atol=5e-4)  # faster-coco-eval accumulates in float32
    assert c.points()[1][0] < c.points()[1][-1]  # noisier boxes at the lower rate score lower


def test_one_exactly_coded_image_leaves_the_psnr_bd_rate_as_the_summary_leaves_its_mean(tmp_path):
    """Issue 26.3: a blank slice coded losslessly (PSNR inf) in 'good' at its top point made every
    mean inf and the BD-rate 'usable rate points: 0'; the mean now skips it (n_exact counts it)."""
    path = _folder(tmp_path)
    results = pd.read_parquet(path / "results.parquet")
    exact = (results.codec == "good") & (results.quality == 4.0) & (results.image_id == "im3")
    results.loc[exact, "psnr"] = math.inf
    results.to_parquet(path / "results.parquet")
    record = {r.codec: r for r in bd_rates(read_results(path), "base", "psnr", n_draws=100)}["good"]
    assert record.status == "ok" and record.bd_rate == pytest.approx(-20.0, abs=2.0) and record.ci_low < record.bd_rate < record.ci_high


def test_a_codec_that_coded_nothing_is_named_not_the_anchor(tmp_path):
    """Issue 26.4: vvc unsupported on every 16-bit image used to print 'anchor has 0 usable rate point(s)'."""
    path = _folder(tmp_path)
    results = pd.read_parquet(path / "results.parquet")
    mine = results.codec == "bad"
    results.loc[mine, ["status", "error"]] = ["unsupported", "codec 'bad' does not code 16-bit images"]
    results.loc[~mine, "error"] = ""
    results.to_parquet(path / "results.parquet")
    record = {r.codec: r for r in bd_rates(read_results(path), "base", "psnr", n_draws=0)}["bad"]
    assert math.isnan(record.bd_rate)
    assert record.status == "codec bad coded no image (unsupported: codec 'bad' does not code 16-bit images)"


def test_the_table_bootstraps_map_from_the_stored_detections_not_from_the_summary():
    """Intervals live in analysis only: a dataset-level figure (mAP) gets its interval by
    re-weighting the detections the rows store, whatever the summary holds (old runs stored
    `_lo`/`_hi` there; they are ignored)."""
    pytest.importorskip("pyarrow")
    from pathlib import Path

    folder = read_results(Path(__file__).resolve().parents[1] / "results" / "reference" / "colin27-aal")
    folder.summary = folder.summary[[c for c in folder.summary.columns if not c.endswith(("_lo", "_hi"))] + ["map50_lo"]]
    folder.summary["map50_lo"] = -1.0  # a stale stored value the table must not show
    frame = table_frame(folder, ["map50", "miou"], n_draws=100)
    jpeg2000 = frame[frame.codec == "jpeg2000"]
    assert len(jpeg2000) >= 5 and (jpeg2000.map50_lo <= jpeg2000.map50).all() and (jpeg2000.map50 <= jpeg2000.map50_hi).all()
    assert (jpeg2000.map50_lo > 0).all() and (jpeg2000.map50_hi - jpeg2000.map50_lo < 0.3).all()
    assert frame.miou_lo.isna().all()  # pooled over the split's confusion matrix: nothing stored to re-weight
