"""`bench table`, `bench bdrate`, `bench figures` and `bench lossless`: analysis of a results folder alone."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.errors import BenchError

RESULTS_HELP = "Results folder written by `bench run` (results.parquet, summary, manifest.json)."


def _names(value: str | None, option: str) -> list[str] | None:
    from bench.api import split_list

    return split_list(value, option)


def _json_value(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _print_records(out: Console, records: list[dict]) -> None:
    out.print_json(json.dumps([{k: _json_value(v) for k, v in r.items()} for r in records]))


def _fmt(value: float, digits: int = 1) -> str:
    if value == math.inf:  # a bound above every tested rate (see lossless_interval)
        return "∞"
    return f"{value:.{digits}f}" if isinstance(value, float) and math.isfinite(value) else "–"


def register(app: typer.Typer, out: Console) -> None:
    @app.command("table")
    def table_cmd(
        results: Path = typer.Argument(..., help=RESULTS_HELP),
        metric: str = typer.Option("psnr,ms_ssim", "--metric", "-m", help="Comma-separated metrics (any summary column, e.g. dice,map50_95,psnr)."),
        fmt: str = typer.Option("md", "--format", "-f", help="md, csv or latex."),
        draws: int = typer.Option(1000, "--draws", help="Bootstrap draws over images for the 95% intervals (0: none)."),
    ) -> None:
        """Per codec and rate point: bpp and metrics with 95% bootstrap intervals over images."""
        from bench.analysis.reader import read_results
        from bench.analysis.table import render, table_frame

        folder = read_results(results)
        metrics = _names(metric, "--metric")
        text = render(table_frame(folder, metrics, n_draws=draws), metrics, fmt)
        typer.echo(text, nl=False)

    @app.command("bdrate")
    def bdrate_cmd(
        results: Path = typer.Argument(..., help=RESULTS_HELP),
        anchor: str = typer.Option(..., "--anchor", "-a", help="Codec the others are compared with (e.g. vvc, jpeg2000)."),
        metric: str = typer.Option("psnr", "--metric", "-m", help="Quality axis: psnr, ms_ssim, dice, miou, map50_95, ..."),
        codecs: Optional[str] = typer.Option(None, "--codecs", "-c", help="Comma-separated codecs. Default: all in the folder."),
        min_overlap: float = typer.Option(0.5, "--min-overlap", help="Least share of the narrower curve's metric range that both curves cover, for a number."),
        rising_part: bool = typer.Option(False, "--rising-part", help="Use each curve up to its first drop instead of refusing a non-monotone curve."),
        strict: bool = typer.Option(False, "--strict", help="Take task curves as they are (refuse a non-monotone one) instead of through their monotone envelope."),
        draws: int = typer.Option(1000, "--draws", help="Bootstrap draws over images for the 95% interval (0: none)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON record per codec."),
    ) -> None:
        """Task (or PSNR) BD-rate against an anchor: pchip, overlap and monotonicity checked, bootstrap 95% CI.
        Task curves go through their monotone envelope (the points that beat every lower-rate point; the note says how many)."""
        from bench.analysis.bdrate import bd_rates
        from bench.analysis.reader import read_results

        if not 0 <= min_overlap <= 1:
            raise BenchError(f"--min-overlap must lie in [0, 1], got {min_overlap}")
        folder = read_results(results)
        records = [r.record() for r in bd_rates(folder, anchor, metric, _names(codecs, "--codecs"), n_draws=draws,
                                                  min_overlap=min_overlap, rising_part=rising_part, strict=True if strict else None)]
        if as_json:
            _print_records(out, records)
            return
        table = Table(title=f"BD-rate on {metric} against {anchor} (negative = fewer bits at equal {metric})")
        for col in ("codec", "BD-rate %", "95% CI", "overlap", "status"):
            table.add_column(col, justify="left" if col in ("codec", "status") else "right")
        for r in records:
            ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if math.isfinite(r["ci_low"]) else "–"
            status = r["status"] + (f" ({r['note']})" if r["note"] else "")
            table.add_row(r["codec"], _fmt(r["bd_rate"]), ci, _fmt(100 * r["overlap"], 0) + "%" if math.isfinite(r["overlap"]) else "–", status)
        out.print(table)

    @app.command("combine")
    def combine_cmd(
        results: list[Path] = typer.Argument(..., help="Two or more results folders of the same images, task networks and scoring code."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the combined results (written whole or not at all)."),
    ) -> None:
        """Join results folders into one, e.g. your codec's run with a committed reference sweep, so the
        analysis commands compare them without recomputing. Refused unless dataset, images, task networks,
        scoring code and the uncompressed figures agree."""
        from bench.analysis.combine import combine_folders
        from bench.analysis.reader import REFERENCE
        from bench.outfolder import check_writable
        from bench.results import write_run

        check_writable(out_dir)
        frames = combine_folders(results)
        write_run(out_dir, *frames)
        n_codecs = len(set(frames[1].codec) - {REFERENCE})
        out.print(f"{out_dir}: {n_codecs} codecs from {len(results)} folders")

    @app.command("figures")
    def figures_cmd(
        results: Path = typer.Argument(..., help=RESULTS_HELP),
        out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the PNG, PDF and CSV files. Default: RESULTS/figures."),
        anchor: Optional[str] = typer.Option(None, "--anchor", "-a", help="BD-rate anchor. Default: vvc, else jpeg2000, else the first codec."),
        paper: bool = typer.Option(False, "--paper", help="Also write the paper's Table 1 layout (md, tex) and our points beside the paper's."),
        draws: int = typer.Option(1000, "--draws", help="Bootstrap draws over images for bands and BD-rate intervals (0: none)."),
    ) -> None:
        """Rate–accuracy, rate–PSNR and rate–MS-SSIM curves with 95% bands, and BD-rate bars, as PNG and PDF."""
        from bench.analysis.figures import figure_plan, write_figures
        from bench.analysis.reader import read_results
        from bench.progress import Steps

        if draws < 0:
            raise BenchError(f"--draws must be 0 or more, got {draws}")
        folder = read_results(results)
        target = out_dir if out_dir is not None else Path(results) / "figures"
        curves, bars = figure_plan(folder)
        with Steps("figures", len(curves) + len(bars)) as step:
            paths = write_figures(folder, target, anchor=anchor, n_draws=draws, step=step)
        if paper:
            from bench.analysis.paper import write_paper

            paths += write_paper(folder, target)
        for path in paths:
            typer.echo(str(path))

    @app.command("report")
    def report_cmd(
        results: Path = typer.Argument(..., help=RESULTS_HELP),
        out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for report.html, report.md and figures/. Default: RESULTS/report."),
        anchor: Optional[str] = typer.Option(None, "--anchor", "-a", help="BD-rate anchor. Default: vvc, else jpeg2000, else the first codec."),
        draws: int = typer.Option(1000, "--draws", help="Bootstrap draws over images (0: none)."),
    ) -> None:
        """One self-contained HTML page (figures inlined) plus Markdown: manifest, tables, BD-rates, task-lossless ratios, figures."""
        from bench.analysis.report import write_report

        if draws < 0:
            raise BenchError(f"--draws must be 0 or more, got {draws}")
        html_path, md_path = write_report(results, out_dir, anchor=anchor, n_draws=draws, show_progress=True)
        typer.echo(f"{html_path}\n{md_path}")

    @app.command("grid")
    def grid_cmd(
        codecs: str = typer.Option("jpeg,jpeg2000,bpg,vvc", "--codecs", "-c", help="Comma-separated codec specs."),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset. Default: as `bench run`."),
        task: str = typer.Option("seg", "--task", "-t", help="Task whose prediction is drawn: seg, det or none."),
        bpp: float = typer.Option(0.1, "--bpp", help="The rate every codec is matched to on this image."),
        image: Optional[str] = typer.Option(None, "--image", help="Test image id. Default: the middle test image."),
        out_dir: Path = typer.Option(Path("results/figures"), "--out", "-o", help="Folder for the PNG and PDF."),
    ) -> None:
        """Visual grid: one test image decoded by each codec at a matched rate, the task's prediction over it, the error map."""
        from bench.analysis.grid import visual_grid
        from bench.api import default_dataset, split_list

        if not bpp > 0:
            raise BenchError(f"--bpp must be positive, got {bpp}")
        for path in visual_grid(data or default_dataset()[0], split_list(codecs, "--codecs"), task, bpp, out_dir, image):
            typer.echo(str(path))

    @app.command("train-plot")
    def train_plot_cmd(
        log: Path = typer.Argument(..., help="A training log (the .csv beside a checkpoint), or a checkpoint (.safetensors or its .json): "
                                             "then also its campaign, every committed version's val R–D and gain."),
        out_dir: Path = typer.Option(Path("results/training"), "--out", "-o", help="Folder for <log>.png and .pdf."),
    ) -> None:
        """Training curves of a checkpoint's log: loss terms and MVMICNet's task weights α(t), per rate point;
        for a checkpoint, also its campaign (val R–D per committed version, gain at equal rate, the 0.1 dB plateau line)."""
        from bench.analysis.trainlog import plot_training_log

        if log.suffix in (".safetensors", ".json"):
            from bench.analysis.campaign import plot_campaign

            if not log.is_file():
                raise BenchError(f"{log}: no such checkpoint")
            for path in plot_campaign(log, out_dir):
                typer.echo(str(path))
            log = log.with_suffix(".csv")
            if not log.is_file():
                return
        for path in plot_training_log(log, out_dir):
            typer.echo(str(path))

    @app.command("lossless")
    def lossless_cmd(
        results: Path = typer.Argument(..., help=RESULTS_HELP),
        metric: str = typer.Option("dice", "--metric", "-m", help="Task metric: dice, map50_95, miou, ... (or psnr)."),
        tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Allowed loss against uncompressed. Default: 0.02 for Dice/mAP/mIoU/sensitivity, 5% of the uncompressed d′ for dprime."),
        codecs: Optional[str] = typer.Option(None, "--codecs", "-c", help="Comma-separated codecs. Default: all in the folder."),
        draws: int = typer.Option(1000, "--draws", help="Bootstrap draws over images for the 95% interval (0: none)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON record per codec."),
    ) -> None:
        """Task-lossless ratio per codec: the lowest bpp (largest ratio) that stays within tolerance, beside the guideline ratio."""
        from bench.analysis.lossless import GUIDELINE_SOURCE, lossless_ratios
        from bench.analysis.reader import read_results

        folder = read_results(results)
        records = [r.record() for r in lossless_ratios(folder, metric, tolerance, _names(codecs, "--codecs"), n_draws=draws)]
        if as_json:
            _print_records(out, records)
            return
        first = records[0] if records else None
        title = f"task-lossless: lowest bpp with {metric} within {first['tolerance']:g} of uncompressed" if first else "task-lossless"
        table = Table(title=title, caption=f"ratio = {first['stored_bpp']:g} stored bpp / bpp; guideline: {GUIDELINE_SOURCE}" if first else None)
        for col in ("codec", "bpp", "95% CI", "ratio", "guideline", "status"):
            table.add_column(col, justify="left" if col in ("codec", "status") else "right")
        for r in records:
            ci = f"[{_fmt(r['bpp_ci_low'], 3)}, {_fmt(r['bpp_ci_high'], 3)}]" if math.isfinite(r["bpp_ci_low"]) else "–"
            guide = f"{r['guideline_ratio']:.0f}:1" if math.isfinite(r["guideline_ratio"]) else "–"
            table.add_row(r["codec"], _fmt(r["bpp"], 3), ci, f"{_fmt(r['ratio'])}:1" if math.isfinite(r["ratio"]) else "–", guide, r["status"])
        out.print(table)
