"""`bench grid`: one test image decoded by each codec at a matched low rate, the task network's
prediction drawn over it, and the error map, side by side, so a reader *sees* what a codec
costs the task at the same bits.

Unlike the rest of `bench.analysis` this needs the data, the codecs and the task network (it
decodes the image itself): rates are matched on that one image (`bench.ratematch`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bench.analysis.figures import save, style
from bench.errors import BenchError

DET_SCORE = 0.25  # boxes drawn: those a reader would count (as `n_det`)


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
    from bench import registry
    from bench.cells import codec_instance
    from bench.datasets.spec import open_dataset
    from bench.ratematch import match_rates

    dataset = open_dataset(data)
    test = dataset.split("test") or dataset.samples
    sample = next((s for s in test if s.id == image_id), None) if image_id else test[len(test) // 2]
    if sample is None:
        raise BenchError(f"--image '{image_id}': not a test image of '{dataset.name}' (e.g. {test[0].id})")
    task = None
    if task_name != "none":
        task_cls = registry.get("task", task_name)
        why_not = task_cls.supports(dataset)
        if why_not:
            raise BenchError(f"task '{task_name}' cannot run on '{dataset.name}': {why_not}")
        task = task_cls(dataset, device=device)
    n_classes = len(dataset.seg_classes or []) if task_name == "seg" else len(dataset.det_classes or [])
    columns = [("uncompressed", sample.image, None)]
    for spec in codecs:
        codec = codec_instance(spec, "cpu", (dataset.name, dataset.fingerprint))
        match = match_rates(codec, [sample], [bpp])[0]
        decoded = codec.decode(codec.encode(sample.image, codec.scale.check(spec, match.quality), sample.bit_depth))
        off = "" if match.within_tolerance else " (nearest it reaches)"
        columns.append((f"{spec}\n{match.bpp:.3f} bpp{off} (q {match.quality:g})", decoded, match))
    with style():
        rows = 2 if task is None else 3
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
            if task is not None:
                prediction = task.predict([image], [sample])[0]
                axes[2, j].imshow(_display(image, sample.bit_depth), cmap="gray", vmin=0, vmax=1)
                _draw_prediction(axes[2, j], task_name, prediction, n_classes)
                axes[2, j].set_title(f"{task_name} prediction", fontsize=7)
            for ax in axes[:, j]:
                ax.set_xticks([])
                ax.set_yticks([])
        fig.suptitle(f"{dataset.name} {sample.id}: every codec at about {bpp:g} bpp", fontsize=9)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return save(fig, Path(out_dir), f"grid_{task_name}_{bpp:g}bpp")
