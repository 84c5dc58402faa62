"""One reader for a results folder: per-image rows, summary and manifest, with metric directions.

A folder written before the summary had a Parquet copy (schema 1) is read from its CSV; metric
directions then come from the names (`LOWER_IS_BETTER`)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.errors import BenchError

SCHEMA_VERSION = 2
REFERENCE = "reference"
QUALITY_METRICS = ("psnr", "ms_ssim")
LOWER_IS_BETTER = frozenset({"bpp", "bytes", "hd95", "encode_s", "decode_s"})


@dataclass
class ResultsFolder:
    path: Path
    results: pd.DataFrame  # one row per codec × quality × image
    summary: pd.DataFrame  # one row per codec × quality (means, task figures, CI bounds)
    manifest: dict
    directions: dict[str, str] = field(default_factory=dict)  # metric -> "higher" | "lower"
    # what analysis derives from the folder (curves), kept for the folder's life: a folder never
    # changes once read, and a report asks for the same curve from figures, tables and BD-rates
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def codecs(self) -> list[str]:
        return [c for c in dict.fromkeys(self.summary.codec) if c != REFERENCE]

    @property
    def task_columns(self) -> dict[str, list[str]]:
        return self.manifest.get("task_columns", {})

    @property
    def stored_bpp(self) -> float:
        """Bits per pixel of the uncompressed images (bit depth × channels): the ratio's denominator."""
        ref = self.results[self.results.codec == REFERENCE]
        rows = ref if len(ref) else self.results
        return float((rows.bit_depth * rows.channels).mean())

    def higher_is_better(self, metric: str) -> bool:
        return self.directions.get(metric, "lower" if metric in LOWER_IS_BETTER else "higher") == "higher"

    def metric_columns(self) -> list[str]:
        """Metrics a table or BD-rate can use: image quality, then every task column in the summary."""
        skip = {"codec", "quality", "bpp", "n_images", "n_failed", "n_unsupported"}
        return [c for c in self.summary.columns if c not in skip and not c.endswith(("_lo", "_hi"))]

    def require_metric(self, metric: str) -> None:
        if metric not in self.summary.columns:
            raise BenchError(f"--metric '{metric}': not in {self.path} (it has {', '.join(self.metric_columns())})")

    def require_codec(self, codec: str, option: str) -> None:
        if codec not in self.codecs:
            raise BenchError(f"{option} '{codec}': not in {self.path} (it has {', '.join(self.codecs)})")

    def uncompressed(self, metric: str) -> float:
        ref = self.summary[self.summary.codec == REFERENCE]
        return float(ref[metric].iloc[0]) if len(ref) and metric in ref else math.nan


def read_results(path: Path | str) -> ResultsFolder:
    """Read a folder `bench run` wrote; one clear error when it is not one."""
    path = Path(path)
    needed = ["results.parquet", "manifest.json"]
    if not path.is_dir():
        raise BenchError(f"{path}: no such results folder")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing or not ((path / "summary.parquet").is_file() or (path / "summary.csv").is_file()):
        raise BenchError(f"{path}: not a results folder (missing {', '.join(missing) or 'summary.parquet'})")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        results = pd.read_parquet(path / "results.parquet")
        summary = pd.read_parquet(path / "summary.parquet") if (path / "summary.parquet").is_file() else pd.read_csv(path / "summary.csv")
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: unreadable results folder ({exc})") from None
    version = int(manifest.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise BenchError(f"{path}: results schema {version} is newer than this bench reads ({SCHEMA_VERSION}); upgrade mvmic-bench")
    return ResultsFolder(path, results, summary, manifest, dict(manifest.get("metric_directions", {})))
