"""`bench report RESULTS`: one self-contained HTML page (figures inlined as data URIs, no
external file, script or font) and the same content as Markdown beside its PNG figures:
what ran (manifest), the bpp–accuracy table with intervals, BD-rates with their status,
task-lossless ratios beside the guideline, and the figures."""

from __future__ import annotations

import base64
import html
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from bench.analysis.bdrate import bd_rates
from bench.analysis.figures import default_anchor, figure_plan, task_metrics, write_figures
from bench.analysis.lossless import GUIDELINE_SOURCE, lossless_ratios
from bench.analysis.reader import ResultsFolder, read_results
from bench.analysis.table import render, table_frame

CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
       "img{max-width:100%;border:1px solid #eee;margin:0.5em 0}code{background:#f4f4f4}")


def _num(value, digits: int = 1) -> str:
    if value == math.inf:  # a bound above every tested rate (see lossless_interval)
        return "∞"
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def _bdrate_rows(folder: ResultsFolder, anchor: str, metrics: list[str], n_draws: int) -> pd.DataFrame:
    rows = []
    for metric in metrics:
        for r in bd_rates(folder, anchor, metric, n_draws=n_draws):
            ci = f"[{_num(r.ci_low)}, {_num(r.ci_high)}]" if math.isfinite(r.ci_low) else "–"
            rows.append({"metric": metric, "codec": r.codec, "BD-rate %": _num(r.bd_rate), "95% CI": ci,
                         "overlap": f"{100 * r.overlap:.0f}%" if math.isfinite(r.overlap) else "–",
                         "status": r.status + (f" ({r.note})" if r.note else "")})
    return pd.DataFrame(rows)


def _lossless_rows(folder: ResultsFolder, metrics: list[str], n_draws: int) -> pd.DataFrame:
    rows = []
    for metric in metrics:
        for r in lossless_ratios(folder, metric, n_draws=n_draws):
            rows.append({"metric": metric, "codec": r.codec, "tolerance": f"{r.tolerance:g}", "bpp": _num(r.bpp, 3),
                         "95% CI (bpp)": f"[{_num(r.bpp_ci_low, 3)}, {_num(r.bpp_ci_high, 3)}]",
                         "ratio": f"{_num(r.ratio)}:1" if math.isfinite(r.ratio) else "–",
                         "guideline": f"{r.guideline_ratio:.0f}:1" if math.isfinite(r.guideline_ratio) else "–", "status": r.status})
    return pd.DataFrame(rows)


def _markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(none)\n"
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _html_table(markdown: str) -> str:
    """Render our own pipe tables (no Markdown library needed)."""
    rows = [r.strip().strip("|").split(" | ") for r in markdown.strip().splitlines() if r.strip() and not r.startswith("|---")]
    if not rows or not markdown.startswith("|"):
        return f"<p>{html.escape(markdown)}</p>"
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(results: Path | str, out_dir: Path | str | None = None, anchor: str | None = None, n_draws: int = 1000,
                 show_progress: bool = False) -> tuple[Path, Path]:
    """Write report.html and report.md (+ figures/) into `out_dir` (default RESULTS/report); atomic per file."""
    from bench.progress import Steps

    folder = read_results(results)
    out_dir = Path(out_dir) if out_dir else folder.path / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    anchor = anchor or default_anchor(folder)
    folder.require_codec(anchor, "--anchor")
    tasks = task_metrics(folder)
    curves, bars = figure_plan(folder)
    with Steps("report", len(curves) + len(bars) + 3, disable=not show_progress) as step:
        return _write_report(folder, out_dir, anchor, tasks, n_draws, step)


def _write_report(folder: ResultsFolder, out_dir: Path, anchor: str, tasks: list[str], n_draws: int, step) -> tuple[Path, Path]:
    figures = [p for p in write_figures(folder, out_dir / "figures", anchor=anchor, n_draws=n_draws, step=step, formats=("png",),
                                        column=False) if p.suffix == ".png"]
    m = folder.manifest
    dataset = m.get("dataset") or {}
    sections: list[tuple[str, str]] = []
    about = (f"Data `{dataset.get('name', '?')}` (fingerprint `{dataset.get('fingerprint', '?')}`), split `{dataset.get('split', '?')}`, "
             f"{dataset.get('n_images', '?')} images; codecs {', '.join(f'`{c}`' for c in folder.codecs)}; "
             f"tasks {', '.join(f'`{t}`' for t in (m.get('tasks') or {})) or 'none'}; run {m.get('started', '?')} on "
             f"{(m.get('machine') or {}).get('processor', '?')} ({m.get('device', '?')}), git `{m.get('git_revision')}`; "
             f"command `{' '.join(m.get('command') or [])}`.")
    for source in m.get("combined_from") or []:  # `bench combine`: say which run made which codecs
        about += (f"\n\n- {', '.join(f'`{c}`' for c in source.get('codecs') or [])}: from `{source.get('path')}`, git "
                  f"`{source.get('git_revision')}`, command `{' '.join(source.get('command') or [])}`.")
    sections.append(("What ran", about + "\n"))
    sections.append(("bpp and accuracy per rate point (95% bootstrap intervals over images)",
                     render(table_frame(folder, tasks + ["psnr", "ms_ssim"], n_draws=n_draws), tasks + ["psnr", "ms_ssim"], "md")))
    step("table")
    sections.append((f"BD-rate against {anchor} (negative = fewer bits at equal metric)",
                     _markdown_table(_bdrate_rows(folder, anchor, ["psnr", *tasks], n_draws))))
    step("BD-rates")
    lossless = [t for t in tasks if t in ("dice", "map50_95", "miou")]
    if lossless:
        sections.append((f"Task-lossless ratio (stored {folder.stored_bpp:g} bpp; guideline {GUIDELINE_SOURCE})",
                         _markdown_table(_lossless_rows(folder, lossless, n_draws))))
    step("task-lossless ratios")
    md = [f"# mvmic-bench report: {folder.path.name}\n"]
    page = [f"<!doctype html><html><head><meta charset='utf-8'><title>mvmic-bench report: {html.escape(folder.path.name)}</title>"
            f"<style>{CSS}</style></head><body><h1>mvmic-bench report: {html.escape(folder.path.name)}</h1>"]
    for title, text in sections:
        md.append(f"## {title}\n\n{text}")
        body = _html_table(text) if text.startswith("|") else f"<p>{html.escape(text)}</p>"
        page.append(f"<h2>{html.escape(title)}</h2>{body}")
    md.append("## Figures\n")
    page.append("<h2>Figures</h2>")
    for png in figures:
        md.append(f"![{png.stem}](figures/{png.name})\n")
        data = base64.b64encode(png.read_bytes()).decode()
        page.append(f"<figure><img alt='{png.stem}' src='data:image/png;base64,{data}'><figcaption>{png.stem}</figcaption></figure>")
    page.append("</body></html>")
    paths = []
    for name, text in (("report.md", "\n".join(md)), ("report.html", "".join(page))):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_dir / name)
        paths.append(out_dir / name)
    return paths[1], paths[0]
