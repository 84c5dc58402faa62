"""Results folders: a tidy per-image table, a per codec × quality summary and a manifest.

Everything is written into a temporary sibling folder and renamed into place at the end,
so a crash or Ctrl-C never leaves a half-written results folder. A folder that cannot be written
(read-only, full disk) is a one-line `OutputError`: `bench.outfolder.check_writable` says so before any work,
`write_run` when a write fails, and neither leaves anything behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.cells import group_key
from bench.errors import OutputError
from bench.outfolder import os_reason

RESULT_COLUMNS = ["codec", "codec_options", "quality", "image_id", "bytes", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s", "status", "error"]
SUMMARY_COLUMNS = ["codec", "quality", "bpp", "psnr", "ms_ssim", "n_images", "n_failed", "n_unsupported", "n_exact"]
TARGET_TOLERANCE_DB = 1.0  # a PSNR target missed by more than this is counted (`target_missed`, `n_target_missed`)


def mark_target_misses(results: pd.DataFrame, targets: dict[str, str]) -> pd.DataFrame:
    """`target_missed` per row of a codec whose quality is a PSNR target (`targets`: codec label ->
    metric): True where the decoded PSNR is more than `TARGET_TOLERANCE_DB` off the target (an
    encoder clamping at the end of its range, or one stream for several targets), so a flat or
    non-monotone ladder is said instead of passing silently. Lossless rows (quality 0) are not targets."""
    if not targets:
        return results
    results = results.copy()
    missed = pd.Series(pd.NA, index=results.index, dtype="boolean")
    for codec, metric in targets.items():
        rows = (results.codec == codec) & (results.status == "ok") & (results.quality != 0)
        if rows.any():
            missed[rows] = (results.loc[rows, metric] - results.loc[rows, "quality"]).abs() > TARGET_TOLERANCE_DB
    results["target_missed"] = missed
    return results


def results_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    rest = [c for c in df.columns if c not in RESULT_COLUMNS]
    return df[RESULT_COLUMNS + rest]


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else math.nan


def _mean_psnr(values: pd.Series) -> float:
    """Mean PSNR over the images not coded exactly (their PSNR is infinite; `n_exact` counts them),
    so one blank slice does not turn a group's mean into inf; inf only when every image is exact."""
    values = values.dropna()
    finite = values[np.isfinite(values)]
    if len(finite):
        return float(finite.mean())
    return math.inf if len(values) else math.nan


def summarize(results: pd.DataFrame, task_summaries: dict[tuple[str, float | None], dict]) -> pd.DataFrame:
    """One row per codec × quality (plus `reference`), in sweep order; task figures joined."""
    out = []
    for (codec, quality), group in results.groupby(["codec", "quality"], sort=False, dropna=False):
        ok = group[group.status == "ok"]
        row = {"codec": codec, "quality": quality, "bpp": _mean(ok.bpp), "psnr": _mean_psnr(ok.psnr),
               "ms_ssim": _mean(ok.ms_ssim), "n_images": len(ok), "n_failed": int((group.status == "failed").sum()),
               "n_unsupported": int((group.status == "unsupported").sum()), "n_exact": int(np.isinf(ok.psnr).sum())}
        if "target_missed" in group and group.target_missed.notna().any():
            row["n_target_missed"] = int(group.target_missed.fillna(False).sum())
        row.update(task_summaries.get(group_key(codec, quality), {}))
        out.append(row)
    return pd.DataFrame(out)


def write_run(out_dir: Path, results: pd.DataFrame, summary: pd.DataFrame, manifest: dict) -> Path:
    """Write all files to a temporary sibling, then swap it into `out_dir` in one rename.

    An OSError (read-only folder, full disk) leaves `out_dir` as it was, removes the temporary
    folder and is raised as a one-line `OutputError` (an OSError too)."""
    out_dir = Path(out_dir)
    tmp = None
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        results.to_parquet(tmp / "results.parquet", index=False)
        results.to_csv(tmp / "results.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        summary.to_parquet(tmp / "summary.parquet", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            try:
                os.replace(tmp, out_dir)
            except BaseException:
                os.replace(old, out_dir)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write results to {out_dir}: {os_reason(exc)}; nothing was written") from exc
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(results, summary, manifest); `bench.analysis.reader.read_results` is the full reader."""
    from bench.analysis.reader import read_results

    folder = read_results(run_dir)
    return folder.results, folder.summary, folder.manifest
