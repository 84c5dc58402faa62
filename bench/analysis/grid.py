"""`bench grid`: one test image decoded by each codec at a matched low rate, the task network's
prediction drawn over it, and the error map, side by side, so a reader *sees* what a codec
costs the task at the same bits.

Unlike the rest of `bench.analysis` this needs the data, the codecs and the task network (it
decodes the image itself): rates are matched on that one image (`bench.ratematch`).

On a dataset that records its lesions (colin27-lesions) the default image is the test image with
the most lesions, and close-up rows follow: the image's smallest and its faintest lesion, 4×
zoomed, with the true outline (dashed) and the task's prediction, since a 2 mm lesion is a few
pixels of a full-slice panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench.analysis.figures import save, style

DET_SCORE = 0.25  # boxes drawn: those a reader would count (as `n_det`)
CLOSE_UP_PX = 16  # half-side of a lesion close-up


def close_up_lesions(records: list[dict]) -> list[tuple[str, dict]]:
    """(label, record) of the lesions the close-ups show: the smallest, then the faintest (another one)."""
    if not records:
        return []
    smallest = min(records, key=lambda r: r["diameter_mm"])
    faintest = min((r for r in records if r is not smallest), key=lambda r: abs(r["contrast"]), default=None)
    picks = [("smallest lesion", smallest)] + ([("faintest lesion", faintest)] if faintest else [])
    return [(f"{label}: {r['diameter_mm']:.1f} mm, {100 * r['contrast']:+.0f}%", r) for label, r in picks]


def _crop(record: dict, shape: tuple[int, int]) -> tuple[slice, slice]:
    cx, cy, h = int(round(record["cx"])), int(round(record["cy"])), CLOSE_UP_PX
    y0, x0 = min(max(cy - h, 0), max(shape[0] - 2 * h, 0)), min(max(cx - h, 0), max(shape[1] - 2 * h, 0))
    return slice(y0, y0 + 2 * h), slice(x0, x0 + 2 * h)


def _display(image: np.ndarray, bit_depth: int) -> np.ndarray:
    return image.astype(np.float32) / float((1 << bit_depth) - 1)


def _draw_prediction(ax, task_name: str, prediction, n_classes: int) -> None:
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    if task_name == "seg":
        mask = np.ma.masked_equal(np.asarray(prediction), 0)
        ax.imshow(mask, cmap=cmap, vmin=0, vmax=max(n_classes, 2), alpha=0.45, interpolation="nearest")
        return
    for box, score, label in zip(prediction["boxes"], prediction["scores"], prediction["labels"]):
        if score >= DET_SCORE:
            x1, y1, x2, y2 = box
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=0.8, color=cmap(int(label) % 20)))


def visual_grid(data: str, codecs: list[str], task_name: str, bpp: float, out_dir: Path, image_id: str | None = None,
                device: str = "cpu") -> list[Path]:
    """Draw what `bench.api.code_for_grid` coded: analysis draws, the api opens data and codes."""
    from bench.api import code_for_grid

    coded = code_for_grid(data, codecs, task_name, bpp, image_id, device)
    dataset, sample, task, columns, lesions = coded.dataset, coded.sample, coded.task, coded.columns, coded.lesions
    n_classes = len(dataset.seg_classes or []) if task_name == "seg" else len(dataset.det_classes or [])
    close_ups = close_up_lesions(lesions.get(sample.id, []))
    with style():
        main_rows = 2 if task is None else 3
        rows = main_rows + len(close_ups)
        fig = Figure(figsize=(2.2 * len(columns), 2.4 * rows), layout="constrained")
        axes = fig.subplots(rows, len(columns), squeeze=False)
        peak = float((1 << sample.bit_depth) - 1)
        for j, (title, image, _) in enumerate(columns):
            gray = image if image.ndim == 2 else image.mean(axis=2)
            axes[0, j].imshow(_display(image, sample.bit_depth), cmap="gray", vmin=0, vmax=1)
            axes[0, j].set_title(title, fontsize=7)
            error = np.abs(gray.astype(np.float32) - (sample.image if sample.image.ndim == 2 else sample.image.mean(axis=2)).astype(np.float32))
            axes[1, j].imshow(error / peak, cmap="magma", vmin=0, vmax=0.1)
            axes[1, j].set_title("|error| (0-10% of peak)" if j else "error map", fontsize=7)
            prediction = None
            if task is not None:
                prediction = task.predict([image], [sample])[0]
                axes[2, j].imshow(_display(image, sample.bit_depth), cmap="gray", vmin=0, vmax=1)
                _draw_prediction(axes[2, j], task_name, prediction, n_classes)
                axes[2, j].set_title(f"{task_name} prediction", fontsize=7)
            for k, (label, record) in enumerate(close_ups):
                _close_up(axes[main_rows + k, j], image, sample, record, task_name, prediction, n_classes)
                axes[main_rows + k, j].set_title(label if j == 0 else "", fontsize=7)
            for ax in axes[:, j]:
                ax.set_xticks([])
                ax.set_yticks([])
        fig.suptitle(f"{dataset.name} {sample.id}: every codec at about {bpp:g} bpp", fontsize=9)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return save(fig, Path(out_dir), f"grid_{task_name}_{bpp:g}bpp")


def _close_up(ax, image: np.ndarray, sample, record: dict, task_name: str, prediction, n_classes: int) -> None:
    """A 4× close-up of one lesion: decoded pixels, the true outline dashed, the prediction over it."""
    rows, cols = _crop(record, image.shape[:2])
    ax.imshow(_display(image[rows, cols], sample.bit_depth), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if sample.mask is not None:
        ax.contour(sample.mask[rows, cols] > 0, levels=[0.5], colors="#4dac26", linewidths=0.8, linestyles="dashed")
    if prediction is None:
        return
    if task_name == "seg":
        _draw_prediction(ax, "seg", np.asarray(prediction)[rows, cols], n_classes)
        return
    shifted = dict(prediction, boxes=np.asarray(prediction["boxes"], np.float64).reshape(-1, 4) - [cols.start, rows.start] * 2)
    _draw_prediction(ax, "det", shifted, n_classes)
    ax.set_xlim(-0.5, cols.stop - cols.start - 0.5)
    ax.set_ylim(rows.stop - rows.start - 0.5, -0.5)
