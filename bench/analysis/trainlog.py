"""Figures of a training log (the per-step `.csv` beside every checkpoint): how the loss terms
and, for MVMICNet's stage 2, the dynamically balanced task weights α_k(t) moved over training,
one panel column per rate point. The paper's claim rests on that balance, so it is shown, not
only logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.analysis.figures import save, style
from bench.errors import BenchError

SMOOTH = 25  # steps in the running mean drawn over the raw (faint) per-step values


def read_log(path: Path) -> pd.DataFrame:
    path = Path(path)
    try:
        log = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable training log ({exc})") from exc
    if not {"step", "point", "loss"} <= set(log.columns):
        raise BenchError(f"{path}: not a training log (needs the columns step, point, loss; has {', '.join(log.columns[:8])})")
    return log


def panels(log: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(title, columns) of each panel row: the α weights, the task losses, then rate and distortion."""
    alphas = [c for c in log.columns if c.startswith("alpha_")]
    tasks = [c for c in log.columns if c.startswith("task_")]
    rows = []
    if alphas:
        rows.append(("task weight α(t)", alphas))
    if tasks:
        rows.append(("task loss (train batch)", tasks))
    rows.append(("rate (bpp, estimate)", ["bpp_est"]))
    rows.append(("distortion term λ·D" if "dist" in log.columns else "MSE", ["dist" if "dist" in log.columns else "mse"]))
    return rows


def plot_training_log(path: Path, out_dir: Path) -> list[Path]:
    """`<log stem>.png` and `.pdf` in `out_dir`: one column per rate point, one row per quantity."""
    log = read_log(path)
    rows = panels(log)
    points = sorted(log.point.unique())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with style():
        fig = Figure(figsize=(2.4 * len(points) + 1, 1.9 * len(rows) + 0.6), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(rows), len(points), squeeze=False, sharey="row"))
        for j, point in enumerate(points):
            part = log[log.point == point]
            lam = f"λ={part['lambda'].iloc[0]:g}" if "lambda" in part else f"point {point}"
            for i, (title, columns) in enumerate(rows):
                ax = axes[i, j]
                for column in columns:
                    values = pd.to_numeric(part[column], errors="coerce")
                    steps = part.step - part.step.iloc[0] + 1
                    ax.plot(steps, values, alpha=0.25, linewidth=0.6)
                    ax.plot(steps, values.rolling(SMOOTH, min_periods=1).mean(), linewidth=1.3,
                            label=column.split("_", 1)[1] if "_" in column and column.startswith(("alpha_", "task_")) else None,
                            color=ax.lines[-1].get_color())
                if i == 0:
                    ax.set_title(f"rate point {point} ({lam})")
                if j == 0:
                    ax.set_ylabel(title)
                if i == len(rows) - 1:
                    ax.set_xlabel("step in this rate point")
                if j == len(points) - 1 and any(line.get_label() and not line.get_label().startswith("_") for line in ax.lines):
                    ax.legend(fontsize=7, loc="best")
        fig.suptitle(f"{Path(path).name}: faint per step, bold running mean over {SMOOTH} steps")
        return save(fig, out_dir, Path(path).stem)
