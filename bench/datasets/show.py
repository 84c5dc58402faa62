"""`bench datasets show NAME[:PATH]`: counts per split and class, and a contact sheet PNG.

`describe` returns plain JSON-friendly data (the tests and the CLI use it); `print_description`
renders it with rich; `write_contact_sheet` draws `count` samples spread over the splits, each image
scaled by its bit depth (0 .. 2**bit_depth - 1, or `dataset.extra["display_window"]` in stored values
when a loader sets one), the mask as a translucent colour overlay and boxes as labelled rectangles,
with one legend of class names. The PNG is written atomically (temporary file + rename).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from bench.datasets.base import SPLITS, Dataset, Sample

SEG_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
              "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000"]
BOX_COLORS = ["#ffe119", "#00ffff", "#ff00ff", "#7fff00", "#ff8c00", "#ffffff", "#1e90ff", "#ff1493"]


def _split_order(dataset: Dataset) -> list[str]:
    present = {s.split for s in dataset.samples}
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


def split_gaps(dataset: Dataset) -> dict[str, float]:
    """Smallest distance (mm) between any two slices of different splits, for loaders that record
    slice positions in `extra["slice_mm"]` (slab-split volumes); {} otherwise."""
    positions = (dataset.extra or {}).get("slice_mm") or {}
    by_split: dict[str, list[float]] = {}
    for s in dataset.samples:
        if s.id in positions:
            by_split.setdefault(s.split, []).append(float(positions[s.id]))
    names = [n for n in SPLITS if n in by_split]
    gaps = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            gaps[f"{a}-{b}"] = float(np.abs(np.subtract.outer(by_split[a], by_split[b])).min())
    return gaps


def describe(dataset: Dataset) -> dict:
    """Counts per split, pixels per segmentation class and boxes per detection class per split, sizes,
    bit depths, channels and modalities."""
    splits = _split_order(dataset)
    seg_classes = list(dataset.seg_classes or [])
    det_classes = list(dataset.det_classes or [])
    seg_pixels = {split: {name: 0 for name in seg_classes} for split in splits}
    seg_images = {split: {name: 0 for name in seg_classes} for split in splits}
    det_boxes = {split: {name: 0 for name in det_classes} for split in splits}
    per_split = {split: {"images": 0, "with_mask": 0, "with_boxes": 0, "boxes": 0} for split in splits}
    sizes: Counter = Counter()
    for s in dataset.samples:
        row = per_split[s.split]
        row["images"] += 1
        sizes[tuple(int(v) for v in s.image.shape[:2])] += 1
        if s.mask is not None:
            row["with_mask"] += 1
            counts = np.bincount(s.mask.ravel().astype(np.int64), minlength=len(seg_classes))
            for cid, n in enumerate(counts[: len(seg_classes)]):
                seg_pixels[s.split][seg_classes[cid]] += int(n)
                seg_images[s.split][seg_classes[cid]] += int(n > 0)
        if s.boxes is not None and len(s.boxes):
            row["with_boxes"] += 1
            row["boxes"] += len(s.boxes)
            labels = s.labels if s.labels is not None else np.zeros(len(s.boxes), np.int64)
            for label in labels:
                name = det_classes[int(label)] if 0 <= int(label) < len(det_classes) else str(int(label))
                det_boxes[s.split][name] = det_boxes[s.split].get(name, 0) + 1
    heights = [h for h, _ in sizes]
    widths = [w for _, w in sizes]
    return {
        "name": dataset.name,
        "source": dataset.source,
        "description": dataset.description,
        "fingerprint": dataset.fingerprint,
        "images": len(dataset.samples),
        "splits": {split: per_split[split]["images"] for split in splits},
        "per_split": per_split,
        "modalities": dataset.modalities,
        "bit_depths": dataset.bit_depths,
        "channels": sorted({s.channels for s in dataset.samples}),
        "dtypes": sorted({str(s.image.dtype) for s in dataset.samples}),
        "image_size": {
            "distinct": len(sizes),
            "most_common": list(sizes.most_common(1)[0][0]) if sizes else None,
            "min_hw": [min(heights), min(widths)] if sizes else None,
            "max_hw": [max(heights), max(widths)] if sizes else None,
        },
        "tasks": dataset.tasks,
        "seg_classes": seg_classes or None,
        "seg_pixels": seg_pixels if seg_classes else {},
        "seg_images": seg_images if seg_classes else {},
        "det_classes": det_classes or None,
        "det_boxes": det_boxes if det_classes else {},
        "split_gaps_mm": split_gaps(dataset),
        **({"lesions": lesion_breakdown(dataset)} if isinstance(dataset.extra, dict) and "lesions" in dataset.extra else {}),
    }


SIZE_BINS_MM = (2, 3, 5, 8, 12)
CONTRAST_BINS = (0.03, 0.06, 0.12, 0.30)


def _bin(value: float, edges) -> str:
    for lo, hi in zip(edges, edges[1:]):
        if value < hi or hi == edges[-1]:
            return f"{lo:g}-{hi:g}"
    return f"{edges[-2]:g}-{edges[-1]:g}"


def lesion_breakdown(dataset: Dataset) -> dict:
    """Simulated lesions per split by diameter (mm), |contrast| (fraction of the local tissue mean) and polarity."""
    out: dict = {}
    for s in dataset.samples:
        row = out.setdefault(s.split, {"lesions": 0, "lesion_free_images": 0, "diameter_mm": Counter(), "contrast": Counter(),
                                       "polarity": Counter()})
        records = dataset.extra["lesions"].get(s.id, [])
        row["lesions"] += len(records)
        row["lesion_free_images"] += not records
        for r in records:
            row["diameter_mm"][_bin(r["diameter_mm"], SIZE_BINS_MM)] += 1
            row["contrast"][_bin(abs(r["contrast"]), CONTRAST_BINS)] += 1
            row["polarity"][r["polarity"]] += 1
    return {split: {k: dict(sorted(v.items())) if isinstance(v, Counter) else v for k, v in row.items()} for split, row in out.items()}


def print_description(desc: dict, console) -> None:
    """Render `describe()` output as rich tables on `console`."""
    from rich.table import Table

    size = desc["image_size"]
    shape = "-"
    if size["most_common"]:
        h, w = size["most_common"]
        shape = f"{w}×{h}" if size["distinct"] == 1 else (
            f"{size['distinct']} sizes, {size['min_hw'][1]}×{size['min_hw'][0]} .. {size['max_hw'][1]}×{size['max_hw'][0]} "
            f"(most common {w}×{h})")
    overview = Table(title=f"dataset {desc['name']}", show_header=False)
    overview.add_column("key", style="bold")
    overview.add_column("value", overflow="fold")
    for key, value in (("images", str(desc["images"])),
                       ("splits", " ".join(f"{k}={v}" for k, v in desc["splits"].items())),
                       ("modality", ", ".join(desc["modalities"])),
                       ("bit depth", ", ".join(map(str, desc["bit_depths"])) + f" ({', '.join(desc['dtypes'])})"),
                       ("channels", ", ".join(map(str, desc["channels"]))),
                       ("image size (W×H)", shape),
                       ("tasks", ", ".join(desc["tasks"]) or "none (no masks or boxes)"),
                       ("fingerprint", desc["fingerprint"]),
                       ("closest slices across splits", ", ".join(f"{k} {v:g} mm" for k, v in desc.get("split_gaps_mm", {}).items()) or "-"),
                       ("source", desc["source"] or "-"),
                       ("description", desc["description"] or "-")):
        overview.add_row(key, value)
    console.print(overview)
    splits = list(desc["splits"])
    if desc["seg_classes"]:
        table = Table(title="segmentation: pixels per class (images containing it)")
        table.add_column("class")
        for split in splits:
            table.add_column(split, justify="right")
        for cid, name in enumerate(desc["seg_classes"]):
            cells = []
            for split in splits:
                total = sum(desc["seg_pixels"][split].values()) or 1
                n = desc["seg_pixels"][split][name]
                cells.append(f"{n:,} ({100 * n / total:.1f}%) [{desc['seg_images'][split][name]}]")
            table.add_row(f"{cid} {name}", *cells)
        console.print(table)
    if desc["det_classes"]:
        table = Table(title="detection: boxes per class")
        table.add_column("class")
        for split in splits:
            table.add_column(split, justify="right")
        names = list(desc["det_classes"]) + sorted({n for s in splits for n in desc["det_boxes"][s]} - set(desc["det_classes"]))
        for name in names:
            table.add_row(name, *[str(desc["det_boxes"][split].get(name, 0)) for split in splits])
        table.add_row("[dim]images with boxes[/]", *[str(desc["per_split"][split]["with_boxes"]) for split in splits])
        console.print(table)


def pick_samples(dataset: Dataset, count: int) -> list[Sample]:
    """`count` samples spread over the splits (round-robin), evenly spaced within each split."""
    by_split = {split: [s for s in dataset.samples if s.split == split] for split in _split_order(dataset)}
    quota = {split: 0 for split in by_split}
    remaining = min(count, len(dataset.samples))
    while remaining:
        for split, members in by_split.items():
            if remaining and quota[split] < len(members):
                quota[split] += 1
                remaining -= 1
    chosen = []
    for split, members in by_split.items():
        k = quota[split]
        if k:
            idx = np.linspace(0, len(members) - 1, k).round().astype(int) if k > 1 else [len(members) // 2]
            chosen += [members[i] for i in idx]
    return chosen


def _display(sample: Sample, window) -> np.ndarray:
    img = sample.image.astype(np.float32)
    lo, hi = window if window is not None else (0.0, float(2**sample.bit_depth - 1))
    return np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)


def _rgba(color: str, alpha: float) -> tuple:
    from matplotlib.colors import to_rgba

    return to_rgba(color, alpha)


MAX_BOX_LEGEND = 12


def _legend_size(samples: list[Sample]) -> int:
    """Legend entries the sheet will need: segmentation classes shown, plus box classes when few."""
    seg = set().union(*(set(np.unique(s.mask).tolist()) - {0} for s in samples if s.mask is not None))
    det = set().union(*(set(np.asarray(s.labels).tolist()) for s in samples if s.labels is not None and len(s.labels)))
    return len(seg) + (len(det) if len(det) <= MAX_BOX_LEGEND else 0)


def write_contact_sheet(dataset: Dataset, path, count: int = 12) -> Path:
    """A PNG grid of `count` samples with mask overlays, labelled boxes and a class legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    path = Path(path)
    samples = pick_samples(dataset, max(1, int(count)))
    n = len(samples)
    cols = min(n, 4 if n > 6 else max(n, 1))
    rows = math.ceil(n / cols)
    aspect = np.mean([s.image.shape[0] / s.image.shape[1] for s in samples])
    legend_cols = 5
    legend_entries = _legend_size(samples)
    tile_w = 3.2
    tile_h, title_h, head_h = tile_w * aspect, 0.42, 0.45
    foot_h = 0.3 + 0.2 * math.ceil(legend_entries / legend_cols)
    fig_h = rows * (tile_h + title_h) + head_h + foot_h
    fig = Figure(figsize=(cols * tile_w, fig_h), dpi=100)
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - (head_h + title_h) / fig_h, bottom=foot_h / fig_h,
                        wspace=0.04, hspace=title_h / tile_h)
    FigureCanvasAgg(fig)
    seg_classes = dataset.seg_classes or []
    det_classes = dataset.det_classes or []
    window = dataset.extra.get("display_window") if isinstance(dataset.extra, dict) else None
    seg_used, det_used = set(), set()
    for i, s in enumerate(samples):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_axis_off()
        shown = _display(s, window)
        ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        if s.mask is not None and s.mask.any():
            overlay = np.zeros(s.mask.shape + (4,), np.float32)
            for cid in np.unique(s.mask):
                if cid == 0:
                    continue
                overlay[s.mask == cid] = _rgba(SEG_COLORS[(int(cid) - 1) % len(SEG_COLORS)], 0.42)
                seg_used.add(int(cid))
            ax.imshow(overlay, interpolation="nearest")
        if s.boxes is not None:
            labels = s.labels if s.labels is not None else np.zeros(len(s.boxes), np.int64)
            for box, label in zip(s.boxes, labels):
                color = BOX_COLORS[int(label) % len(BOX_COLORS)]
                x1, y1, x2, y2 = (float(v) for v in box)
                ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.3))
                name = det_classes[int(label)] if 0 <= int(label) < len(det_classes) else str(int(label))
                ax.text(x1 - 0.5, y1 - 1.5, name, color="black", fontsize=6, va="bottom",
                        bbox=dict(facecolor=color, edgecolor="none", pad=0.8, alpha=0.85))
                det_used.add(int(label))
        h, w = s.image.shape[:2]
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_title(f"{s.id} [{s.split}]\n{w}×{h} {s.bit_depth}-bit {s.modality}", fontsize=7)
    handles = [Patch(facecolor=_rgba(SEG_COLORS[(c - 1) % len(SEG_COLORS)], 0.6), edgecolor="none",
                     label=f"seg {c}: {seg_classes[c] if c < len(seg_classes) else c}") for c in sorted(seg_used)]
    if len(det_used) <= MAX_BOX_LEGEND:  # more box classes than that: their names are on the boxes
        handles += [Line2D([], [], color=BOX_COLORS[c % len(BOX_COLORS)], linewidth=2,
                           label=f"box: {det_classes[c] if c < len(det_classes) else c}") for c in sorted(det_used)]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), legend_cols), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    counts = " ".join(f"{k}={v}" for k, v in dataset.split_counts().items())
    fig.suptitle(f"{dataset.name}: {len(dataset.samples)} images ({counts}), fingerprint {dataset.fingerprint}", fontsize=9,
                 y=1 - 0.12 / fig_h, va="top")

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
