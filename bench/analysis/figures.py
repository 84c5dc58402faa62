"""Figures of a results folder: rate–accuracy, rate–PSNR and rate–MS-SSIM curves with 95%
bands, and BD-rate bars against an anchor, each as PNG and PDF with the plotted numbers as CSV.

Drawn with matplotlib's object API (`Figure`, no pyplot): Agg, no display, no global state,
bundled fonts only. A codec keeps its colour in every figure (the palette is keyed by the
sorted codec names). A BD-rate without a number keeps its place as a hatched bar that says
why: a dropped bar would read as "not measured"."""

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
from bench.analysis.curves import DRAWS, is_per_image
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
    names = sorted(set(codecs) - {REFERENCE})
    colors = seaborn.color_palette("tab10" if len(names) <= 10 else "husl", max(len(names), 1))
    return dict(zip(names, colors))


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


def save(fig: Figure, out_dir: Path, name: str, data: pd.DataFrame | None = None) -> list[Path]:
    """PNG and PDF (no creation date, so a rerun gives the same file), and the plotted numbers."""
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    fig.savefig(paths[0])
    fig.savefig(paths[1], metadata={"CreationDate": None})
    if data is not None:
        paths.append(out_dir / f"{name}.csv")
        data.to_csv(paths[2], index=False)
    return paths


def _finite(value) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def band_source(folder: ResultsFolder, metric: str, n_draws: int) -> str:
    """Where a curve's band comes from, for its title (as `table_frame` decides it)."""
    lo = f"{metric}_lo"
    if lo in folder.summary.columns and folder.summary[lo].notna().any():
        return "95% CI band from the run"
    if is_per_image(folder, metric) and n_draws:
        return f"95% bootstrap band over {int(folder.summary.n_images.max())} images"
    return "no interval" if n_draws else "no bands (0 draws)"


def plot_curves(frame: pd.DataFrame, metric: str, colors: dict, title: str) -> Figure:
    """One line per codec over its rate points, its 95% band, and the uncompressed level dashed."""
    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.add_subplot()
    lo, hi = f"{metric}_lo", f"{metric}_hi"
    for codec in sorted(set(frame.codec) - {REFERENCE}):
        rows = frame[frame.codec == codec].sort_values("bpp")
        rows = rows[np.isfinite(rows.bpp) & (rows.bpp > 0) & np.isfinite(rows[metric])]
        if not len(rows):
            continue
        color = colors[codec]
        ax.plot(rows.bpp, rows[metric], marker="o", ms=4, lw=1.5, color=color, label=codec)
        band = np.isfinite(rows[lo]) & np.isfinite(rows[hi])
        if band.any():
            ax.fill_between(rows.bpp[band], rows[lo][band], rows[hi][band], color=color, alpha=0.15, lw=0)
    ref = frame[frame.codec == REFERENCE]
    if len(ref) and _finite(ref[metric].iloc[0]):
        ax.axhline(ref[metric].iloc[0], color="0.15", ls="--", lw=1.2, label="uncompressed")
        if _finite(ref[lo].iloc[0]) and _finite(ref[hi].iloc[0]):
            ax.axhspan(ref[lo].iloc[0], ref[hi].iloc[0], color="0.4", alpha=0.12, lw=0)
    elif len(ref):
        ax.plot([], [], color="0.15", ls="--", lw=1.2, label="uncompressed: off scale (lossless)")
    log_bpp_axis(ax)
    ax.set_ylabel(label(metric))
    ax.set_title(title)
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
    """Horizontal bars with 95% CI whiskers; a codec with no number gets a hatched, labelled bar."""
    n = len(frame)
    fig = Figure(figsize=(7.2, 1.5 + 0.42 * n), layout="constrained")
    ax = fig.add_subplot()
    ok = (frame.status == "ok") & np.isfinite(frame.bd_rate)
    ends = pd.concat([frame.bd_rate[ok], frame.ci_low[ok], frame.ci_high[ok]]).dropna()
    low, high = min(0.0, ends.min()) if len(ends) else -10.0, max(0.0, ends.max()) if len(ends) else 10.0
    pad = 0.3 * (high - low) or 10.0
    left, right = low - pad, high + pad
    for i, r in frame.iterrows():
        color = colors.get(r.codec, "0.5")
        if ok[i]:
            ax.barh(i, r.bd_rate, height=0.6, color=color)
            if _finite(r.ci_low) and _finite(r.ci_high):
                ax.errorbar(r.bd_rate, i, xerr=[[r.bd_rate - r.ci_low], [r.ci_high - r.bd_rate]], fmt="none",
                            ecolor="0.15", elinewidth=1, capsize=3)
            end = max(r.bd_rate, r.ci_high if _finite(r.ci_high) else r.bd_rate) if r.bd_rate >= 0 else \
                min(r.bd_rate, r.ci_low if _finite(r.ci_low) else r.bd_rate)
            ax.text(end + (0.02 if r.bd_rate >= 0 else -0.02) * (right - left), i, r["label"],
                    ha="left" if r.bd_rate >= 0 else "right", va="center", fontsize="small")
        else:
            ax.barh(i, right - left, left=left, height=0.6, facecolor="none", edgecolor=color, hatch="//", lw=0.8, alpha=0.45)
            ax.text((left + right) / 2, i, r["label"], ha="center", va="center", fontsize="small",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"})
    ax.axvline(0, color="0.15", lw=0.8)
    ax.set_yticks(range(n), list(frame.codec))
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(left, right)
    ax.grid(axis="y", visible=False)
    metric, anchor = frame.metric.iloc[0], frame.anchor.iloc[0]
    ax.set_xlabel(f"BD-rate against {anchor} (%), negative = fewer bits at equal {label(metric)}")
    ax.set_title(title)
    return fig


def write_figures(folder: ResultsFolder | Path | str, out_dir: Path | str, anchor: str | None = None,
                  n_draws: int = DRAWS, seed: int = 0) -> list[Path]:
    """Every figure of the folder into `out_dir`; returns the files written (PNG, PDF, CSV)."""
    folder = folder if isinstance(folder, ResultsFolder) else read_results(folder)
    if anchor is not None:
        folder.require_codec(anchor, "--anchor")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = task_metrics(folder)
    curves = [*tasks, *(m for m in QUALITY_METRICS if m in folder.summary.columns)]
    frame = table_frame(folder, curves, n_draws=n_draws, seed=seed)
    colors = codec_colors(folder.codecs)
    name = dataset_name(folder)
    paths = []
    with style():
        for metric in curves:
            columns = ["codec", "quality", "bpp", metric, f"{metric}_lo", f"{metric}_hi"]
            fig = plot_curves(frame, metric, colors, f"{name}: rate–{label(metric)}, {band_source(folder, metric, n_draws)}")
            paths += save(fig, out_dir, f"rate_{metric}", frame[columns])
        if len(folder.codecs) >= 2:
            anchor = anchor or default_anchor(folder)
            for metric in ["psnr", *tasks]:
                data = bdrate_frame(folder, anchor, metric, n_draws=n_draws, seed=seed)
                fig = plot_bdrate(data, colors, f"{name}: BD-rate on {label(metric)} against {anchor} (95% CI)")
                paths += save(fig, out_dir, f"bdrate_{metric}", data)
    return paths
