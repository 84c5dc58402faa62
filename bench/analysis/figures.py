"""Figures of a results folder: rate–accuracy, rate–PSNR and rate–MS-SSIM curves with 95%
bands, and BD-rate bars against an anchor, each as PNG and PDF with the plotted numbers as CSV.

Drawn with matplotlib's object API (`Figure`, no pyplot): Agg, no display, no global state,
bundled fonts only. A codec keeps its colour in every figure (the palette is keyed by the
sorted codec names) and its look (`codec_style.py`: a short label, a hue family by kind, its own
marker and line style). Bands are drawn only for the highlighted curves (the anchor and the
task-driven codecs; every curve when there are at most four), and a second panel zooms on the
low rates where curves separate. A BD-rate without a number is listed under the bars with its
reason, compactly: a dropped row would read as "not measured", a full-width one dominated."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import seaborn
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.analysis.bdrate import bd_rates
from bench.analysis.codec_style import FAMILY_ORDER, codec_styles
from bench.analysis.curves import DRAWS
from bench.analysis.reader import REFERENCE, ResultsFolder, read_results
from bench.analysis.table import table_frame

TASK_METRICS = ("dice", "miou", "map50", "map50_95", "sensitivity", "seg_sensitivity", "lesion_dice", "dprime")
QUALITY_METRICS = ("psnr", "ms_ssim")
ANCHORS = ("vvc", "jpeg2000")  # preferred anchors, in order; else the folder's first codec
LABELS = {"bpp": "bpp", "psnr": "PSNR (dB)", "ms_ssim": "MS-SSIM", "dice": "Dice", "miou": "mIoU",
          "map50": "mAP@50", "map50_95": "mAP@50:95", "sensitivity": "lesion sensitivity @ 1 FP/image",
          "sensitivity_fp05": "lesion sensitivity @ 0.5 FP/image", "lesion_dice": "lesion-wise Dice", "dprime": "CHO d′",
          "seg_sensitivity": "lesion sensitivity @ 1 FP/image (seg)"}
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "savefig.dpi": 150, "figure.dpi": 100, "font.size": 9}


@contextmanager
def style():
    """Seaborn's white grid and editable (Type 42) PDF text, for the figures made inside only."""
    with seaborn.axes_style("whitegrid"), matplotlib.rc_context(RC):
        yield


def codec_colors(codecs) -> dict[str, tuple]:
    """One colour per codec name, the same in every figure of the same folder."""
    return {codec: style.color for codec, style in codec_styles(codecs).items()}


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def dataset_name(folder: ResultsFolder) -> str:
    return (folder.manifest.get("dataset") or {}).get("name") or folder.path.name


def task_metrics(folder: ResultsFolder) -> list[str]:
    """The task accuracy figures this folder has values for."""
    return [m for m in TASK_METRICS if m in folder.summary.columns and folder.summary[m].notna().any()]


def default_anchor(folder: ResultsFolder) -> str:
    return next((a for a in ANCHORS if a in folder.codecs), folder.codecs[0])


def log_bpp_axis(ax) -> None:
    """Log-scaled bpp with plain-number ticks at 1, 2 and 5 per decade (every digit on a narrow axis)."""
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    narrow = low > 0 and high / low < 5
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=tuple(range(1, 10)) if narrow else (1.0, 2.0, 5.0), numticks=30))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("rate (bits per pixel, log scale)")


def save(fig: Figure, out_dir: Path, name: str, data: pd.DataFrame | None = None, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """PNG and PDF (no creation date, so a rerun gives the same file), and the plotted numbers."""
    paths = [out_dir / f"{name}.{fmt}" for fmt in formats]
    for path in paths:
        fig.savefig(path, **({"metadata": {"CreationDate": None}} if path.suffix == ".pdf" else {}))
    if data is not None:
        paths.append(out_dir / f"{name}.csv")
        data.to_csv(paths[-1], index=False)
    return paths


def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def band_source(folder: ResultsFolder, frame: pd.DataFrame, metric: str, n_draws: int) -> str:
    """Where a curve's band comes from, for its title: the table's intervals, when it has any."""
    if not n_draws:
        return "no bands (0 draws)"
    if frame[f"{metric}_lo"].notna().any():
        return f"95% bootstrap band over {int(folder.summary.n_images.max())} images"
    return "no interval"


def highlighted(codecs, anchor: str | None) -> set[str]:
    """The curves that get a band: every one when there are at most four, else the anchor and
    the task-driven codecs (thirteen translucent bands turn the plot into a wash)."""
    codecs = set(codecs) - {REFERENCE}
    if len(codecs) <= 4:
        return codecs
    styles = codec_styles(codecs)
    return {c for c in codecs if c == anchor or styles[c].family == "task-driven"}


def _draw_curves(ax, frame: pd.DataFrame, metric: str, styles: dict, banded: set[str], legend: bool) -> list[float]:
    lo, hi = f"{metric}_lo", f"{metric}_hi"
    rates = []
    for codec in sorted(set(frame.codec) - {REFERENCE}, key=lambda c: (FAMILY_ORDER.index(styles[c].family), styles[c].label.lower())):
        rows = frame[frame.codec == codec].sort_values("bpp")
        rows = rows[np.isfinite(rows.bpp) & (rows.bpp > 0) & np.isfinite(rows[metric])]
        if not len(rows):
            continue
        st = styles[codec]
        ax.plot(rows.bpp, rows[metric], marker=st.marker, ms=4, lw=1.4, ls=st.linestyle, color=st.color,
                label=st.label if legend else None)
        rates += list(rows.bpp)
        band = np.isfinite(rows[lo]) & np.isfinite(rows[hi])
        if codec in banded and band.any():
            ax.fill_between(rows.bpp[band], rows[lo][band], rows[hi][band], color=st.color, alpha=0.15, lw=0)
    ref = frame[frame.codec == REFERENCE]
    if len(ref) and _finite(ref[metric].iloc[0]):
        ax.axhline(ref[metric].iloc[0], color="0.15", ls="--", lw=1.2, label="uncompressed" if legend else None)
        if _finite(ref[lo].iloc[0]) and _finite(ref[hi].iloc[0]):
            ax.axhspan(ref[lo].iloc[0], ref[hi].iloc[0], color="0.4", alpha=0.12, lw=0)
    elif len(ref) and legend:
        ax.plot([], [], color="0.15", ls="--", lw=1.2, label="uncompressed: off scale (lossless)")
    return rates


COLUMN_IN = 3.5  # one column of a two-column paper: the `_column` figures are drawn at the size they print


def plot_curves(frame: pd.DataFrame, metric: str, colors: dict, title: str, anchor: str | None = None,
                column: bool = False) -> Figure:
    """One line per codec over its rate points (bands for the highlighted ones), the uncompressed
    level dashed, and beside it the lower half of the rate range (log scale) zoomed. `column`:
    3.5 inches wide, as a one-column figure prints: the zoom below the full range, the legend
    under both, 7-point text (a 9.6-inch figure shrunk to a column prints its text at 3 points)."""
    styles = codec_styles(frame.codec)
    banded = highlighted(frame.codec, anchor)
    zoom = len(styles) >= 3
    with matplotlib.rc_context({"font.size": 7} if column else {}):
        if column:
            fig = Figure(figsize=(COLUMN_IN, 6.2 if zoom else 3.9), layout="constrained")
            axes = fig.subplots(2, 1, height_ratios=(1, 0.8)) if zoom else [fig.add_subplot()]
        else:
            fig = Figure(figsize=(9.6 if zoom else 7.2, 4.4), layout="constrained")
            axes = fig.subplots(1, 2, width_ratios=(1.6, 1)) if zoom else [fig.add_subplot()]
        rates = _draw_curves(axes[0], frame, metric, styles, banded, legend=True)
        if zoom and rates:
            low, high = min(rates), max(rates)
            edge = low * (high / low) ** 0.5
            _draw_curves(axes[1], frame, metric, styles, banded, legend=False)
            axes[1].set_xlim(low / 1.1, edge)
            inside = frame[(frame.bpp <= edge) & np.isfinite(frame[metric])][metric]
            if len(inside):
                pad = 0.05 * ((inside.max() - inside.min()) or 1.0)
                axes[1].set_ylim(inside.min() - pad, inside.max() + pad)
            axes[1].set_title(f"low rates (≤ {edge:.2g} bpp)")
        for ax in axes:
            log_bpp_axis(ax)
            ax.set_ylabel(label(metric))
        axes[0].set_title(title.replace(", ", ",\n", 1) if column else title)
        if column:
            fig.legend(loc="outside lower center", frameon=False, ncols=2, fontsize=6)
        else:
            fig.legend(loc="outside right center", frameon=False, fontsize="small")
    return fig


def short_reason(status: str) -> str:
    """A bar label for a BD-rate status: '' when there is a number, else 'no number: why'."""
    if status == "ok":
        return ""
    who = "anchor " if status.startswith("anchor ") else ""
    text = re.sub(r"^(anchor|test) ", "", status)
    if text.startswith("not monotone"):
        why = "not monotone"
    elif text.startswith("overlap"):
        share = re.search(r"\d+%", text)
        why = "overlap" + (f" {share.group()}" if share else "")
    elif "rate point" in text:
        why = "too few points"
    else:
        why = text.split(":")[0]
    return f"no number: {who}{why}"


def bdrate_frame(folder: ResultsFolder, anchor: str, metric: str, n_draws: int = DRAWS, seed: int = 0) -> pd.DataFrame:
    """What a BD-rate bar chart shows: one row per codec (sorted), with the bar's label."""
    records = [r.record() for r in bd_rates(folder, anchor, metric, n_draws=n_draws, seed=seed)]
    frame = pd.DataFrame(records).sort_values("codec", kind="stable").reset_index(drop=True)
    frame["label"] = [f"{v:+.1f}%" if s == "ok" and _finite(v) else short_reason(s) for v, s in zip(frame.bd_rate, frame.status)]
    return frame


def plot_bdrate(frame: pd.DataFrame, colors: dict, title: str) -> Figure:
    """Horizontal bars with 95% CI whiskers for the codecs with a number; those without are listed
    below with their reason, in one line each, so refusals are said without taking the chart."""
    styles = codec_styles(frame.codec)
    ok = (frame.status == "ok") & np.isfinite(frame.bd_rate)
    shown, refused = frame[ok].reset_index(drop=True), frame[~ok]
    n = max(len(shown), 1)
    notes = []
    if len(refused):
        import textwrap

        lines = [f"{styles[r.codec].label}: {r['label'].removeprefix('no number: ')}" for _, r in refused.iterrows()]
        notes = textwrap.wrap("no BD-rate: " + "; ".join(lines), 120)
    fig = Figure(figsize=(7.2, 1.4 + 0.36 * n + 0.16 * len(notes)), layout="constrained")
    if notes:
        ax, below = fig.subplots(2, 1, height_ratios=(0.36 * n + 0.9, 0.16 * len(notes) + 0.05))
        below.axis("off")
        below.text(0.0, 1.0, "\n".join(notes), ha="left", va="top", fontsize="x-small", color="0.25", transform=below.transAxes)
    else:
        ax = fig.add_subplot()
    ends = pd.concat([shown.bd_rate, shown.ci_low, shown.ci_high]).dropna()
    low, high = min(0.0, ends.min()) if len(ends) else -10.0, max(0.0, ends.max()) if len(ends) else 10.0
    pad = 0.3 * (high - low) or 10.0
    left, right = low - pad, high + pad
    for i, r in shown.iterrows():
        ax.barh(i, r.bd_rate, height=0.6, color=colors.get(r.codec, styles[r.codec].color))
        if _finite(r.ci_low) and _finite(r.ci_high):
            # drawn about the interval's own centre: a bootstrap interval of few draws need not hold the
            # estimate, and matplotlib 3.11 refuses the negative error that would then be
            ax.errorbar((r.ci_low + r.ci_high) / 2, i, xerr=(r.ci_high - r.ci_low) / 2, fmt="none",
                        ecolor="0.15", elinewidth=1, capsize=3)
        end = max(r.bd_rate, r.ci_high if _finite(r.ci_high) else r.bd_rate) if r.bd_rate >= 0 else \
            min(r.bd_rate, r.ci_low if _finite(r.ci_low) else r.bd_rate)
        ax.text(end + (0.02 if r.bd_rate >= 0 else -0.02) * (right - left), i, r["label"],
                ha="left" if r.bd_rate >= 0 else "right", va="center", fontsize="small")
    if not len(shown):
        ax.text(0.5, 0.5, "no codec has a BD-rate here", transform=ax.transAxes, ha="center", va="center")
    ax.axvline(0, color="0.15", lw=0.8)
    ax.set_yticks(range(len(shown)), [styles[c].label for c in shown.codec])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(left, right)
    ax.grid(axis="y", visible=False)
    metric, anchor = frame.metric.iloc[0], frame.anchor.iloc[0]
    ax.set_xlabel(f"BD-rate against {anchor} (%), negative = fewer bits at equal {label(metric)}")
    ax.set_title(title)
    return fig


def figure_plan(folder: ResultsFolder) -> tuple[list[str], list[str]]:
    """(metrics drawn as rate curves, metrics drawn as BD-rate bars) of a folder's figures."""
    tasks = task_metrics(folder)
    curves = [*tasks, *(m for m in QUALITY_METRICS if m in folder.summary.columns)]
    return curves, (["psnr", *tasks] if len(folder.codecs) >= 2 else [])


def write_figures(folder: ResultsFolder | Path | str, out_dir: Path | str, anchor: str | None = None,
                  n_draws: int = DRAWS, seed: int = 0, step=None, formats: tuple[str, ...] = ("png", "pdf"),
                  column: bool = True) -> list[Path]:
    """Every figure of the folder into `out_dir`; returns the files written (PNG, PDF, CSV).
    `step(name)`, when given, is called after each figure (a `bench.progress.Steps`). The report
    asks for PNG only and no one-column copies: it shows each figure once, on a screen."""
    folder = folder if isinstance(folder, ResultsFolder) else read_results(folder)
    if anchor is not None:
        folder.require_codec(anchor, "--anchor")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves, bars = figure_plan(folder)
    step = step or (lambda _name: None)
    frame = table_frame(folder, curves, n_draws=n_draws, seed=seed)
    colors = codec_colors(folder.codecs)
    name = dataset_name(folder)
    paths = []
    with style():
        for metric in curves:
            columns = ["codec", "quality", "bpp", metric, f"{metric}_lo", f"{metric}_hi"]
            title = f"{name}: rate–{label(metric)}, {band_source(folder, frame, metric, n_draws)}"
            paths += save(plot_curves(frame, metric, colors, title, anchor or default_anchor(folder)), out_dir, f"rate_{metric}",
                          frame[columns], formats)
            if column:
                paths += save(plot_curves(frame, metric, colors, title, anchor or default_anchor(folder), column=True), out_dir,
                              f"rate_{metric}_column", formats=formats)
            step(f"rate_{metric}")
        anchor = anchor or (default_anchor(folder) if bars else None)
        for metric in bars:
            data = bdrate_frame(folder, anchor, metric, n_draws=n_draws, seed=seed)
            fig = plot_bdrate(data, colors, f"{name}: BD-rate on {label(metric)} against {anchor} (95% CI)")
            paths += save(fig, out_dir, f"bdrate_{metric}", data, formats)
            step(f"bdrate_{metric}")
    return paths
