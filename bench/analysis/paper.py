"""Our results in the layout of the MVMICNet paper's Table 1, and our rate–accuracy points
beside the paper's published ones.

The paper reports four rate points per codec between 0.065 and 0.14 bpp (polyp segmentation
on CVC-ColonDB, mIoU); for each codec we take the four points closest to that range in
log-bpp, so the rows compare like with like as far as our sweep allows. MVMICNet's stage 1 and
stage 2 are separate rows when the folder has them (`mvmicnet` codecs with `stage=1`/`stage=2`).
The paper's numbers ship with the package (`data/`), so this needs nothing outside it."""

from __future__ import annotations

import json
import math
import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.analysis.figures import codec_colors, dataset_name, label, log_bpp_axis, save, style
from bench.analysis.reader import ResultsFolder, read_results
from bench.errors import BenchError

PAPER_CSV = "data/paper_table1_cvc_colondb.csv"
PAPER_RANGE = (0.065, 0.14)  # bpp of the paper's Table 1 rate points
POINTS = 4
PAPER_TITLE = "paper (CVC-ColonDB polyp seg, mIoU)"
COLUMNS = ["codec", "point", "quality", "bpp", "psnr_db", "ms_ssim"]  # + the accuracy metric
DECIMALS = {"bpp": 3, "psnr_db": 2, "ms_ssim": 3}


def paper_points() -> pd.DataFrame:
    """The paper's Table 1: codec, point, bpp, psnr_db, ms_ssim, miou_stage1, miou_stage2."""
    with files("bench.analysis").joinpath(PAPER_CSV).open() as fh:
        return pd.read_csv(fh)


def accuracy_metric(folder: ResultsFolder) -> str:
    """mIoU as the paper reports, else Dice."""
    for metric in ("miou", "dice"):
        if metric in folder.summary.columns and folder.summary[metric].notna().any():
            return metric
    raise BenchError(f"{folder.path}: no miou or dice to set beside the paper's mIoU (it has {', '.join(folder.metric_columns())})")


def stage_of(folder: ResultsFolder, codec: str) -> str | None:
    """MVMICNet's training stage, from the label (`mvmicnet:stage=2`) or the recorded options."""
    if not codec.lower().startswith("mvmicnet"):
        return None
    found = re.search(r"(?:^|:)stage=([^:]+)", codec)
    if found:
        return found.group(1)
    for text in folder.results.loc[folder.results.codec == codec, "codec_options"].dropna().unique():
        try:
            stage = json.loads(text).get("stage")
        except (ValueError, AttributeError):
            continue
        if stage is not None:
            return str(stage)
    return None


def closest_points(rows: pd.DataFrame, n: int = POINTS, bpp_range: tuple[float, float] = PAPER_RANGE) -> pd.DataFrame:
    """The n rate points nearest the range in log-bpp (inside it: nearest its log-centre), by bpp."""
    rows = rows[np.isfinite(rows.bpp) & (rows.bpp > 0)]
    log_bpp, (low, high) = np.log(rows.bpp.to_numpy()), np.log(bpp_range)
    outside = np.maximum(low - log_bpp, 0) + np.maximum(log_bpp - high, 0)
    order = np.lexsort((np.abs(log_bpp - (low + high) / 2), outside))
    return rows.iloc[order[:n]].sort_values("bpp")


def mvmicnet_name(codec: str, stage: str) -> str:
    """`MVMICNet (stage 2)`, with the label's other options kept (`task=det`, `weights=...`): two
    variants of one stage must not share a row name."""
    others = [o for o in codec.split(":")[1:] if not o.startswith("stage=")]
    return f"MVMICNet (stage {stage}{''.join(', ' + o for o in others)})"


def paper_table(folder: ResultsFolder | Path | str, n_points: int = POINTS) -> pd.DataFrame:
    """Per codec, its four points nearest the paper's bpp range: bpp, PSNR, MS-SSIM, accuracy.
    The accuracy column is named by the metric (`frame.attrs['metric']`)."""
    folder = folder if isinstance(folder, ResultsFolder) else read_results(folder)
    metric = accuracy_metric(folder)
    stages = {c: stage_of(folder, c) for c in folder.codecs}
    order = [c for c in folder.codecs if stages[c] is None] + sorted((c for c in folder.codecs if stages[c] is not None), key=stages.get)
    parts = []
    for codec in order:
        rows = closest_points(folder.summary[folder.summary.codec == codec], n_points)
        name = mvmicnet_name(codec, stages[codec]) if stages[codec] is not None else codec
        parts.append(pd.DataFrame({"codec": name, "point": range(1, len(rows) + 1), "quality": rows.quality.to_numpy(),
                                   "bpp": rows.bpp.to_numpy(), "psnr_db": rows.psnr.to_numpy(),
                                   "ms_ssim": rows.ms_ssim.to_numpy(), metric: rows[metric].to_numpy()}))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*COLUMNS, metric])
    frame.attrs.update(metric=metric, dataset=dataset_name(folder), uncompressed=folder.uncompressed(metric))
    return frame


def _number(value, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "–"


def render_paper_table(frame: pd.DataFrame, fmt: str) -> str:
    """Markdown (`md`) or LaTeX (`latex`), the codec named on its first row as in the paper."""
    metric = frame.attrs.get("metric", frame.columns[-1])
    columns = [*COLUMNS[1:], metric]
    header = ["codec", "point", "quality", "bpp", "PSNR (dB)", "MS-SSIM", label(metric)]
    lines, previous = [], None
    for _, r in frame.iterrows():
        quality = "" if pd.isna(r["quality"]) else f"{r['quality']:g}"
        cells = [r["codec"] if r["codec"] != previous else "", str(r["point"]), quality]
        cells += [_number(r[c], DECIMALS.get(c, 4)) for c in columns[2:]]
        lines.append(cells)
        previous = r["codec"]
    ref = frame.attrs.get("uncompressed", math.nan)
    note = (f"{frame.attrs.get('dataset', '')}: per codec the {POINTS} rate points nearest the paper's "
            f"{PAPER_RANGE[0]}–{PAPER_RANGE[1]} bpp (log-bpp); uncompressed {label(metric)} {_number(ref, 4)}.")
    if fmt == "md":
        out = [note, "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(out + ["| " + " | ".join(cells) + " |" for cells in lines]) + "\n"
    if fmt == "latex":
        escape = lambda text: str(text).replace("_", r"\_").replace("–", "--").replace("%", r"\%")  # noqa: E731
        out = [f"% {escape(note)}", r"\begin{tabular}{lrr" + "r" * (len(header) - 3) + "}", r"\toprule",
               " & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
        out += [(r"\midrule" + "\n" if cells[0] and i else "") + " & ".join(escape(c) for c in cells) + r" \\"
                for i, cells in enumerate(lines)]
        return "\n".join(out + [r"\bottomrule", r"\end{tabular}"]) + "\n"
    raise BenchError(f"paper table format '{fmt}': expected md or latex")


def write_paper_table(folder: ResultsFolder, out_dir: Path) -> list[Path]:
    frame = paper_table(folder)
    paths = [Path(out_dir) / "paper_table1.md", Path(out_dir) / "paper_table1.tex", Path(out_dir) / "paper_table1.csv"]
    paths[0].write_text(render_paper_table(frame, "md"))
    paths[1].write_text(render_paper_table(frame, "latex"))
    frame.to_csv(paths[2], index=False)
    return paths


def _paper_color(codec: str, colors: dict, greys: dict):
    """Our colour for a codec we also ran (BPG is our bpg), else a grey of its own."""
    key = codec.lower()
    match = next((c for c in sorted(colors) if c.lower() == key or c.lower().startswith(key + ":")), None)
    return colors[match] if match else greys[codec]


def paper_figure(folder: ResultsFolder | Path | str, out_dir: Path | str) -> list[Path]:
    """Two panels: the paper's published points (hollow) and ours (filled), each titled by its source."""
    folder = folder if isinstance(folder, ResultsFolder) else read_results(folder)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paper, metric = paper_points(), accuracy_metric(folder)
    colors = codec_colors(folder.codecs)
    names = list(dict.fromkeys(paper.codec))
    greys = {c: str(g) for c, g in zip(names, np.linspace(0.0, 0.6, len(names)).round(2))}
    with style():
        fig = Figure(figsize=(12, 4.6), layout="constrained")
        ax_paper, ax_ours = fig.subplots(1, 2)
        for codec in names:
            rows = paper[paper.codec == codec].sort_values("bpp")
            color = _paper_color(codec, colors, greys)
            two = rows.miou_stage2.notna().any()
            ax_paper.plot(rows.bpp, rows.miou_stage1, marker="o", mfc="none", ls="--", color=color,
                          label=f"{codec} stage 1" if two else codec)
            if two:
                ax_paper.plot(rows.bpp, rows.miou_stage2, marker="s", mfc="none", ls="-", color=color, label=f"{codec} stage 2")
        ax_paper.set_title(PAPER_TITLE)
        ax_paper.set_ylabel("mIoU")
        ax_paper.legend(loc="lower right", fontsize="small", title="hollow: published", title_fontsize="small")
        summary = folder.summary
        for codec in sorted(folder.codecs):
            rows = summary[(summary.codec == codec) & (summary.bpp > 0) & np.isfinite(summary[metric])].sort_values("bpp")
            ax_ours.plot(rows.bpp, rows[metric], marker="o", ms=4, color=colors[codec], label=codec)
        ref = folder.uncompressed(metric)
        if math.isfinite(ref):
            ax_ours.axhline(ref, color="0.15", ls="--", lw=1.2, label="uncompressed")
        ax_ours.axvspan(*PAPER_RANGE, color="0.6", alpha=0.15, lw=0, label="paper's bpp range")
        ax_ours.set_title(f"ours ({dataset_name(folder)}, {label(metric)})")
        ax_ours.set_ylabel(label(metric))
        ax_ours.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize="small",
                       title="filled: this run", title_fontsize="small")
        for ax in (ax_paper, ax_ours):
            log_bpp_axis(ax)
        differ = "data" if metric == "miou" else "data and metric"
        fig.suptitle(f"Rate–accuracy: the paper's published points beside ours (different {differ}: compare shapes, not values)")
        return save(fig, out_dir, "paper_figure")


def write_paper(folder: ResultsFolder | Path | str, out_dir: Path | str) -> list[Path]:
    """The paper-layout table (Markdown, LaTeX, CSV) and the side-by-side figure."""
    folder = folder if isinstance(folder, ResultsFolder) else read_results(folder)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_paper_table(folder, out_dir) + paper_figure(folder, out_dir)
