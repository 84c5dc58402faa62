"""`bench figures`: PNG and PDF files that open, BD-rate bars that say why there is no number,
and the paper's Table 1 layout, on a tiny results folder written here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.analysis.figures import bdrate_frame, write_figures
from bench.analysis.paper import paper_table, render_paper_table
from bench.analysis.reader import read_results
from bench.cli import app
from bench.errors import BenchError
from bench.results import RESULT_COLUMNS, summarize, write_run

IMAGES = [f"img{i}" for i in range(5)]
PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"
# codec -> (quality, bpp, dice) per rate point; psnr rises with bpp for every codec
CODECS = {
    "vvc": [(47, 0.05, 0.55), (42, 0.08, 0.62), (37, 0.12, 0.68), (32, 0.2, 0.73), (27, 0.4, 0.77), (22, 0.8, 0.79)],
    "jpeg": [(10, 0.1, 0.56), (30, 0.2, 0.64), (50, 0.4, 0.71), (80, 0.8, 0.76)],
    "wiggly": [(1, 0.06, 0.60), (2, 0.1, 0.70), (3, 0.2, 0.65), (4, 0.4, 0.75)],  # Dice drops: its envelope (strict: no BD-rate)
}
MVMICNET = {  # wholly above the anchors on Dice, as in the paper: too little overlap for a number
    "mvmicnet:stage=1": [(1, 0.065, 0.90), (2, 0.083, 0.91), (3, 0.105, 0.92), (4, 0.131, 0.93)],
    "mvmicnet:stage=2": [(1, 0.065, 0.92), (2, 0.083, 0.93), (3, 0.105, 0.94), (4, 0.131, 0.95)],
}


def _row(codec, quality, image, bpp, psnr, ms_ssim, dice):
    return {"codec": codec, "codec_options": "{}", "quality": quality, "image_id": image, "bytes": int(bpp * 64 * 64 / 8),
            "bpp": bpp, "psnr": psnr, "ms_ssim": ms_ssim, "encode_s": 0.0, "decode_s": 0.0, "status": "ok", "error": "",
            "bit_depth": 8, "channels": 1, "dice": dice}


def make_folder(path, with_mvmicnet: bool = True):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, len(IMAGES))
    rows = [_row("reference", math.nan, img, 8.0, math.inf, 1.0, 0.82 + e) for img, e in zip(IMAGES, noise)]
    for codec, points in {**CODECS, **(MVMICNET if with_mvmicnet else {})}.items():
        for quality, bpp, dice in points:
            for img, e in zip(IMAGES, noise):
                psnr = 30 + 8 * math.log2(bpp / 0.05)
                rows.append(_row(codec, float(quality), img, bpp * (1 + e), psnr + 10 * e, 1 - 0.05 / (1 + 20 * bpp), dice + e))
    results = pd.DataFrame(rows)[RESULT_COLUMNS + ["bit_depth", "channels", "dice"]]
    tasks = {}
    for (codec, quality), group in results.groupby(["codec", "quality"], dropna=False):
        key = (codec, None if math.isnan(quality) else float(quality))
        tasks[key] = {"dice": group.dice.mean(), "miou": group.dice.mean() - 0.1}  # mIoU: dataset-level, no interval
    manifest = {"schema_version": 2, "dataset": {"name": "toyset"}, "task_columns": {"seg": ["dice", "miou"]}}
    return write_run(path, results, summarize(results, tasks), manifest)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("figs") / "run")


def _check_file(path):
    data = path.read_bytes()
    magic = {".png": PNG, ".pdf": PDF}[path.suffix]
    assert data.startswith(magic), path
    assert len(data) > 8_000, (path, len(data))


def test_write_figures_writes_every_figure_as_png_and_pdf(folder, tmp_path):
    paths = write_figures(folder, tmp_path / "out", n_draws=20)
    names = ["rate_dice", "rate_miou", "rate_psnr", "rate_ms_ssim", "bdrate_psnr", "bdrate_dice", "bdrate_miou"]
    columns = [f"{n}_column" for n in names if n.startswith("rate_")]  # one-column (3.5 in) versions of the curves
    assert {p.name for p in paths} == ({f"{n}.{ext}" for n in names for ext in ("png", "pdf", "csv")}
                                       | {f"{n}.{ext}" for n in columns for ext in ("png", "pdf")})
    from PIL import Image

    with Image.open(tmp_path / "out" / "rate_dice_column.png") as im:
        assert abs(im.size[0] / im.info["dpi"][0] - 3.5) < 0.05  # prints 3.5 inches wide
    for path in paths:
        assert path.is_file()
        if path.suffix != ".csv":
            _check_file(path)
    bars = pd.read_csv(tmp_path / "out" / "bdrate_dice.csv").set_index("codec")
    assert set(bars.anchor) == {"vvc"}  # the default anchor
    assert bars.loc["wiggly", "label"].endswith("%") and bars.loc["wiggly", "note"].startswith("envelope: 3 of 4 points")
    curve = pd.read_csv(tmp_path / "out" / "rate_dice.csv")
    assert curve.dice_lo.notna().all() and (curve.dice_lo <= curve.dice).all()  # bootstrapped bands, reference too


def test_bdrate_bars_keep_codecs_without_a_number(folder):
    bars = bdrate_frame(read_results(folder), "vvc", "dice", n_draws=20).set_index("codec")
    assert list(bars.index) == sorted(bars.index) and "vvc" not in bars.index
    assert bars.loc["wiggly", "status"] == "ok"  # through its envelope, by default for a task metric
    from bench.analysis.bdrate import bd_rates

    strict = {r.codec: r for r in bd_rates(read_results(folder), "vvc", "dice", n_draws=0, strict=True)}
    assert strict["wiggly"].status.startswith("test not monotone") and math.isnan(strict["wiggly"].bd_rate)
    for stage in MVMICNET:
        assert bars.loc[stage, "label"].startswith("no number: overlap")
    jpeg = bars.loc["jpeg"]
    assert jpeg.status == "ok" and jpeg.bd_rate > 0 and jpeg.ci_low <= jpeg.bd_rate <= jpeg.ci_high
    assert jpeg.label == f"{jpeg.bd_rate:+.1f}%"


def test_paper_table_has_four_points_per_codec_and_both_stages(folder):
    table = paper_table(folder)
    assert list(table.columns) == ["codec", "point", "quality", "bpp", "psnr_db", "ms_ssim", "miou"]
    assert table.attrs["metric"] == "miou"
    assert list(dict.fromkeys(table.codec)) == ["vvc", "jpeg", "wiggly", "MVMICNet (stage 1)", "MVMICNet (stage 2)"]
    assert (table.groupby("codec", sort=False).size() == 4).all()
    assert (table.groupby("codec", sort=False).point.apply(list) == [[1, 2, 3, 4]] * 5).all()
    vvc = table[table.codec == "vvc"]  # the four nearest 0.065-0.14 bpp in log-bpp, of six
    assert list(vvc.quality) == [47, 42, 37, 32]
    md, tex = render_paper_table(table, "md"), render_paper_table(table, "latex")
    assert "| MVMICNet (stage 2) | 1 |" in md and "mIoU" in md
    assert r"\begin{tabular}" in tex and "MVMICNet (stage 1) & 1" in tex


def test_paper_table_leaves_out_mvmicnet_when_absent(tmp_path):
    table = paper_table(make_folder(tmp_path / "run", with_mvmicnet=False))
    assert list(dict.fromkeys(table.codec)) == ["vvc", "jpeg", "wiggly"] and len(table) == 12


def test_cli_figures_with_paper(folder):
    result = CliRunner().invoke(app, ["figures", str(folder), "--paper", "--anchor", "jpeg", "--draws", "10"])
    assert result.exit_code == 0, result.output
    printed = [line for line in result.output.splitlines() if line.strip()]
    out = folder / "figures"  # the default
    for name in ("rate_dice.png", "bdrate_psnr.pdf", "paper_table1.md", "paper_table1.tex", "paper_figure.png", "paper_figure.pdf"):
        assert str(out / name) in printed and (out / name).is_file()
    _check_file(out / "paper_figure.png")
    _check_file(out / "paper_figure.pdf")
    assert set(pd.read_csv(out / "bdrate_dice.csv").anchor) == {"jpeg"}
    assert "MVMICNet (stage 2)" in (out / "paper_table1.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["figures", "/no/such/results"], "no such results folder"),
    (["figures", "{folder}", "--anchor", "nocodec", "--out", "{tmp}/never"], "--anchor 'nocodec'"),
])
def test_cli_figures_bad_input_is_a_bench_error(folder, tmp_path, args, message):
    args = [a.format(folder=folder, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, BenchError) and message in str(result.exception)
    assert not (tmp_path / "never").exists()


def test_training_log_plot_shows_the_task_weights_per_rate_point(tmp_path):
    import pandas as pd

    from bench.analysis.trainlog import panels, plot_training_log, read_log
    from bench.errors import BenchError

    rows = [{"step": s + 1, "point": p, "lambda": lam, "loss": 1.0 / (s + 1), "bpp_est": 0.1 * (p + 1), "mse": 1e-3, "dist": 0.05,
             "task_seg": 0.4, "alpha_seg": 0.1 + 0.01 * s} for p, lam in enumerate((0.001, 0.01)) for s in range(30)]
    log = tmp_path / "mvmicnet-seg-x.csv"
    pd.DataFrame(rows).to_csv(log, index=False)
    assert [title for title, _ in panels(read_log(log))][:2] == ["task weight α(t)", "task loss (train batch)"]
    written = plot_training_log(log, tmp_path / "out")
    assert [p.name for p in written] == ["mvmicnet-seg-x.png", "mvmicnet-seg-x.pdf"] and all(p.stat().st_size > 5000 for p in written)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BenchError, match="bad.csv: not a training log"):
        read_log(tmp_path / "bad.csv")


def test_variants_of_one_mvmicnet_stage_keep_their_own_row_names():
    from bench.analysis.paper import mvmicnet_name

    assert mvmicnet_name("mvmicnet", "2") == "MVMICNet (stage 2)"
    assert mvmicnet_name("mvmicnet:stage=1", "1") == "MVMICNet (stage 1)"
    assert mvmicnet_name("mvmicnet:stage=2:task=det", "2") == "MVMICNet (stage 2, task=det)"


def test_every_codec_gets_a_short_label_its_family_hue_and_its_own_marker_and_line():
    from bench.analysis.codec_style import codec_styles, display_label

    assert display_label("mvmicnet:weights=weights-control/mvmicnet-seg-colin27-aal.safetensors") == "MVMICNet (control)"
    assert display_label("vvc") == "VVC (VVenC medium)" and display_label("vvc:preset=faster") == "VVC (VVenC faster)"
    assert display_label("mvmicnet:control=1:task=seg") == "MVMICNet (control, task=seg)"
    assert "/" not in display_label("mbt2018-mean:weights=/some/where/mbt-big.safetensors")
    codecs = ["jpeg", "jpeg2000", "htj2k", "jpegls", "jpegxl", "webp", "avif", "bpg", "vvc", "bmshj2018-hyperprior",
              "mbt2018-mean", "cheng2020-anchor", "mvmicnet", "mvmicnet:control=1", "reference"]
    styles = codec_styles(codecs)
    assert "reference" not in styles and len(styles) == 14
    assert {styles[c].family for c in ("jpeg", "vvc")} == {"classical"} and styles["mbt2018-mean"].family == "learned"
    assert styles["mvmicnet:control=1"].family == "task-driven"
    assert len({(s.color, s.marker, str(s.linestyle)) for s in styles.values()}) == 14
    for family in ("classical", "learned", "task-driven"):  # within a family, marker and line style tell codecs apart
        members = [s for s in styles.values() if s.family == family]
        assert len({(s.marker, str(s.linestyle)) for s in members}) == len(members)
