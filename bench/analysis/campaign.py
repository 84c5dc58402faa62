"""A checkpoint's training campaign at a glance: the val rate–distortion curve of every committed
version behind it (its manifest's `ancestry`, then itself), and each version's PSNR gain over the
previous one at equal rate. The campaign's stopping rule (two sessions in a row under 0.1 dB at
every rate point) is read off the second panel, so it is drawn, not only computed.

Gains are at equal rate (the previous curve, linear in log-rate, read at this version's val bpp),
not at equal λ: a point that spends more bits at the same λ has not gained by that alone."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.analysis.figures import log_bpp_axis, save, style
from bench.checkpoints import read_manifest
from bench.errors import BenchError

PLATEAU_DB = 0.1  # the campaign issue's "stopped improving": under this at every point, two sessions running


def versions(manifest: dict, name: str) -> pd.DataFrame:
    """One row per committed version and rate point: version, label, λ, val bpp (bytes), val PSNR (decoded)."""
    chain = list(manifest.get("ancestry", [])) + [{**manifest, "checkpoint": name, "sha256": ""}]
    rows = []
    for k, run in enumerate(chain):
        hours = float(run.get("train_seconds") or 0) / 3600
        label = f"{k}: {run.get('sha256', '')[:8] or 'this file'} ({run.get('precision', '?')}, {hours:.1f} h)"
        for p in run.get("rate_points", []):
            if p.get("val_bpp") and p.get("val_psnr_decoded"):
                rows.append({"version": k, "label": label, "lambda": float(p["lambda"]), "val_bpp": float(p["val_bpp"]),
                             "val_psnr": float(p["val_psnr_decoded"])})
    if not rows:
        raise BenchError(f"{name}: its manifest records no val bpp/PSNR per rate point")
    return pd.DataFrame(rows)


def gains(table: pd.DataFrame) -> pd.DataFrame:
    """Per version after the first and rate point: PSNR minus the previous version's at the same val bpp
    (nan outside the previous version's rate range)."""
    rows = []
    for k in sorted(table.version.unique())[1:]:
        prev = table[table.version == k - 1].sort_values("val_bpp")
        x, y = np.log(prev.val_bpp.to_numpy()), prev.val_psnr.to_numpy()
        for _, r in table[table.version == k].iterrows():
            at = math.log(r.val_bpp)
            before = float(np.interp(at, x, y)) if x[0] <= at <= x[-1] else math.nan
            rows.append({"version": k, "lambda": r["lambda"], "val_bpp": r.val_bpp, "gain_db": r.val_psnr - before})
    return pd.DataFrame(rows, columns=["version", "lambda", "val_bpp", "gain_db"])


def plot_campaign(path: Path, out_dir: Path) -> list[Path]:
    """`<stem>-campaign.png`, `.pdf` and `.csv` (the gains) in `out_dir`."""
    path = Path(path)
    table = versions(read_manifest(path), path.name)
    gain = gains(table)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = path.name.split(".")[0]
    n = table.version.max() + 1
    with style():
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        rd, gn = fig.subplots(1, 2)
        cmap = matplotlib.colormaps["viridis"]
        for k, part in table.groupby("version"):
            part = part.sort_values("val_bpp")
            colour = cmap(k / max(n - 1, 1))
            rd.plot(part.val_bpp, part.val_psnr, marker="o", markersize=3, color=colour, label=part.label.iloc[0])
            g = gain[gain.version == k]
            if len(g):
                gn.plot(g.val_bpp, g.gain_db, marker="o", markersize=3, color=colour, label=f"{k} against {k - 1}")
        for ax in (rd, gn):
            log_bpp_axis(ax)  # plain-number ticks: matplotlib's own minor labels overprint on a narrow decade
            ax.set_xlabel("val rate (bpp, from bytes, log scale)")
        rd.set_ylabel("val PSNR of the decoded slices (dB)")
        rd.set_title("val R–D of each committed version")
        rd.legend(fontsize=7, loc="lower right")
        gn.axhline(PLATEAU_DB, color="0.3", linestyle="--", linewidth=1, label=f"{PLATEAU_DB:g} dB (plateau rule)")
        gn.axhline(0, color="0.6", linewidth=0.8)
        gn.set_ylabel("PSNR gain at equal rate (dB)")
        gn.set_title("gain over the previous version")
        gn.legend(fontsize=7, loc="best")
        fig.suptitle(f"{path.name}: training campaign, {n} versions")
        return save(fig, out_dir, f"{stem}-campaign", gain.round({"val_bpp": 4, "gain_db": 3}))
