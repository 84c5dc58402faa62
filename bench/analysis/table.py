"""Per codec × rate point table of bpp and chosen metrics with 95% bootstrap intervals over
images, as Markdown, CSV or LaTeX. Every interval is computed here, from the results rows: a
per-image metric's mean is re-weighted directly, a dataset-level one (mAP, lesion sensitivity,
d′) through the detections or observer statistics the rows store (`curves.py`); one with
neither (mIoU) has none. Tasks report point figures only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.analysis.curves import common_images, curve, draws, interval, is_per_image, mean_interval
from bench.analysis.reader import ResultsFolder
from bench.errors import BenchError

FORMATS = ("md", "csv", "latex")
DECIMALS = {"bpp": 4, "psnr": 2, "ms_ssim": 4, "hd95": 2}


def table_frame(folder: ResultsFolder, metrics: list[str], n_draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Tidy: codec, quality, bpp (+ CI), and for each metric its mean, `_lo` and `_hi` (computed once
    per folder and arguments: figures and the report both ask; callers get their own copy)."""
    for m in metrics:
        folder.require_metric(m)
    key = ("table", tuple(metrics), n_draws, seed)
    if key not in folder.memo:
        folder.memo[key] = _table(folder, metrics, n_draws, seed)
    return folder.memo[key].copy()


def _table(folder: ResultsFolder, metrics: list[str], n_draws: int, seed: int) -> pd.DataFrame:
    rows = []
    ok = folder.results[folder.results.status == "ok"]
    pooled = {m: _pooled_intervals(folder, m, n_draws, seed) for m in metrics if n_draws and not is_per_image(folder, m)}
    for _, s in folder.summary.iterrows():
        quality = s["quality"]
        group = ok[(ok.codec == s["codec"]) & ((ok.quality == quality) | (pd.isna(quality) & ok.quality.isna()))]
        weights = draws(len(group), n_draws, seed) if len(group) and n_draws else None
        row = {"codec": s["codec"], "quality": quality, "n_images": int(s["n_images"])}
        for m in ["bpp", *metrics]:
            row[m] = s[m]
            if weights is not None and is_per_image(folder, m):
                row[f"{m}_lo"], row[f"{m}_hi"] = mean_interval(group[m], weights)
            else:
                row[f"{m}_lo"], row[f"{m}_hi"] = pooled.get(m, {}).get((s["codec"], _key(quality)), (math.nan, math.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def _key(quality) -> float | None:
    return None if pd.isna(quality) else float(quality)


def _pooled_intervals(folder: ResultsFolder, metric: str, n_draws: int, seed: int) -> dict:
    """(codec, quality) -> 95% interval of a dataset-level metric, re-weighting each codec's
    images (those it coded at every rate point) through what its rows store; none where they
    store nothing to re-weight."""
    out = {}
    for codec in dict.fromkeys(folder.summary.codec):
        images = common_images(folder, [codec])
        c = curve(folder, codec, metric, images) if images else None
        if c is None or c.resample_metric is None:
            continue
        resampled = c.resample_metric(draws(len(images), n_draws, seed))  # B×Q, in quality order
        for q, column in zip(c.qualities, resampled.T):
            out[(codec, _key(q))] = interval(column)
    return out


def _cell(value: float, low: float, high: float, decimals: int) -> str:
    if not np.isfinite(value):
        return "inf" if value == math.inf else "–"
    text = f"{value:.{decimals}f}"
    return f"{text} [{low:.{decimals}f}, {high:.{decimals}f}]" if np.isfinite(low) and np.isfinite(high) else text


def render(frame: pd.DataFrame, metrics: list[str], fmt: str) -> str:
    if fmt not in FORMATS:
        raise BenchError(f"--format '{fmt}': expected one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False)
    columns = ["bpp", *metrics]
    header = ["codec", "quality", *columns]
    lines = []
    for _, r in frame.iterrows():
        quality = "" if pd.isna(r["quality"]) else f"{r['quality']:g}"
        lines.append([str(r["codec"]), quality] + [_cell(r[c], r[f"{c}_lo"], r[f"{c}_hi"], DECIMALS.get(c, 3)) for c in columns])
    if fmt == "md":
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out) + "\n"
    escape = lambda text: text.replace("_", r"\_").replace("–", "--")  # noqa: E731
    out = [r"\begin{tabular}{ll" + "r" * len(columns) + "}", r"\toprule", " & ".join(escape(h) for h in header) + r" \\", r"\midrule"]
    out += [" & ".join(escape(c) for c in cells) + r" \\" for cells in lines]
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out) + "\n"
