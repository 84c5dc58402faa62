"""`bench train-task det`: the YOLO detector's recipe is Ultralytics' own trainer, on the train split, selected on val.

Why not the project's loop (`trainer.py`): YOLO training is mosaic, letterboxing, EMA weights,
its loss assigner and warm-up bias schedule; Ultralytics keeps all of that, and writing it again
around our loop would be a second, untested copy of a well-kept library.

Ultralytics trains from files, so the train and val splits are written as a YOLO dataset in
a temporary folder: 8-bit 3-channel PNGs (gray repeated; other bit depths scaled to 8 bits
exactly as `predict` scales them), one `class cx cy w h` line per box (normalised), and a
data YAML with absolute paths (no dataset download can be triggered).

Choices: the network is built from its YAML (`yolov8n.yaml`, no pretrained weights, nothing
downloaded); square letterboxed training at `imgsz` with mosaic (rect=False); horizontal flips
OFF because the classes are left/right structures (a flipped left caudate is a right one);
workers=0, plots=False, amp=False, deterministic with the given seed. Ultralytics picks the
best epoch on its own val pass (it pads val batches "rect" style); the metrics in the manifest
are then computed by `DetectionTask.evaluate`, the same path every codec is scored with.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.checkpoints import save_checkpoint
from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.base import TrainConfig

MODEL_YAML = "yolov8n.yaml"
DEFAULTS = {"epochs": 250, "batch_size": 8, "image_size": 256}
# Ultralytics train() arguments we fix; config.options may override any of them.
TRAIN_ARGS = {
    "fliplr": 0.0,  # left/right classes
    "optimizer": "AdamW",  # 'auto' would pick AdamW at lr 0.000625 for 12 classes: too slow for ~1,200 steps
    "lr0": 0.002,
    "mosaic": 1.0,
    "close_mosaic": 10,
    "rect": False,
    "pretrained": False,
    "amp": False,
    "plots": False,
    "deterministic": True,
    "patience": 1000,
    "cache": "ram",
    "val": True,
}


def _ultralytics_device(device: str) -> str:
    if device.startswith("cuda"):
        return device.split(":", 1)[1] if ":" in device else "0"
    return "cpu"


def write_yolo_dataset(root: Path, dataset: Dataset, splits: dict[str, list[Sample]], min_box: float = 0.0) -> Path:
    """PNG images + label txts per split and data.yaml under `root`; returns the YAML path.

    `min_box` (pixels): a box narrower or shorter than this grows about its centre to it, in the
    training labels only. YOLO's assigner takes as positives only the anchor points (stride 8 and
    up) that fall inside a box, so a lesion a few pixels across often has none and is never learned;
    the lesion-level scoring (`tasks/lesion_metrics.py`) hits on centres, so a bigger predicted box
    around a tiny lesion still finds it."""
    import yaml
    from PIL import Image

    from bench.tasks.det.model import to_uint8

    for split, samples in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for s in samples:
            Image.fromarray(to_uint8(s.image, s.bit_depth)).save(root / "images" / split / f"{s.id}.png")
            h, w = s.image.shape[:2]
            lines = []
            boxes = s.boxes if s.boxes is not None else np.zeros((0, 4))
            labels = s.labels if s.labels is not None else np.zeros(0, np.int64)
            for (x1, y1, x2, y2), c in zip(np.asarray(boxes, np.float64), labels):
                if min_box:
                    cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, min_box), max(y2 - y1, min_box)
                    x1, x2 = max(cx - bw / 2, 0.0), min(cx + bw / 2, w)
                    y1, y2 = max(cy - bh / 2, 0.0), min(cy + bh / 2, h)
                lines.append(f"{int(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
            (root / "labels" / split / f"{s.id}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    data = {"path": str(root), "train": "images/train", "val": "images/val",
            "names": dict(enumerate(dataset.det_classes))}
    path = root / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _start_from(yolo, path: Path, model_yaml: str) -> None:
    """`--init FILE`: start from one of this project's detector checkpoints (e.g. colin27-aal's for
    colin27-lesions: the same anatomy, other objects). Ultralytics transfers every tensor whose
    shape fits into the network it builds for the new classes (all but the class head's last
    layers), as it does for its own pretrained weights: the trainer reads `yolo.ckpt`."""
    import torch

    from bench.checkpoints import load_checkpoint_arrays
    from bench.tasks.det.model import build

    state, manifest = load_checkpoint_arrays(path, None)
    if manifest.get("model_yaml") != model_yaml:
        raise BenchError(f"--init {path}: a {manifest.get('model_yaml')} detector, not {model_yaml}")
    source = build(model_yaml, list(manifest.get("class_names") or []))
    source.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    yolo.model, yolo.ckpt = source, {"model": source}


def _best_epoch(results_csv: Path) -> int | None:
    """The epoch best.pt comes from: Ultralytics keeps the highest val mAP50-95 (its fitness)."""
    import csv

    try:
        rows = list(csv.DictReader(results_csv.open()))
        scores = [float(r["metrics/mAP50-95(B)"]) for r in rows]
        return int(rows[int(np.argmax(scores))]["epoch"])
    except (OSError, KeyError, ValueError):
        return None


def train_det(task_cls, dataset: Dataset, config: TrainConfig) -> dict[str, Any]:
    import torch

    from bench.manifest import package_versions
    from bench.tasks.det.model import build
    from bench.tasks.det.offline import ultralytics

    if not dataset.det_classes or not any(s.boxes is not None for s in dataset.samples):
        raise BenchError(f"task 'det': dataset '{dataset.name}' has no detection boxes")
    splits = {"train": dataset.split("train"), "val": dataset.split("val")}
    ultralytics()
    threads = int(config.options.get("threads", 0)) or os.cpu_count() or 1
    torch.set_num_threads(threads)  # importing ultralytics leaves torch at one thread
    from ultralytics import YOLO
    from ultralytics.nn.tasks import load_checkpoint as load_ultralytics

    model_yaml = str(config.options.get("model", MODEL_YAML))
    epochs = config.epochs or DEFAULTS["epochs"]
    batch = config.batch_size or DEFAULTS["batch_size"]
    imgsz = int(config.image_size or config.options.get("imgsz") or DEFAULTS["image_size"])
    owned = {"batch": "--batch-size", "epochs": "--epochs", "data": "--data", "seed": "--seed", "device": "--device",
             "workers": "(set by bench)", "project": "--out", "name": "--out", "exist_ok": "(set by bench)"}
    for key in config.options:  # train arguments bench sets itself: say which flag sets them instead of crashing in Ultralytics
        if key in owned:
            raise BenchError(f"train-task det: --set {key}=... is set by bench; use {owned[key]}")
    args = {**TRAIN_ARGS, **{k: v for k, v in config.options.items() if k not in ("threads", "model", "verbose", "imgsz", "min_box")}}
    out = Path(config.out)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-det-") as tmp:
        root = Path(tmp)
        data_yaml = write_yolo_dataset(root / "data", dataset, splits, float(config.options.get("min_box", 0.0)))
        yolo = YOLO(model_yaml, task="detect")
        if config.init is not None:
            _start_from(yolo, Path(config.init), model_yaml)
        yolo.train(data=str(data_yaml), epochs=epochs, batch=batch, imgsz=imgsz, workers=config.workers,
                   device=_ultralytics_device(config.device), seed=config.seed, project=str(root / "runs"),
                   name="train", exist_ok=True, verbose=bool(config.options.get("verbose", True)), **args)
        run = root / "runs" / "train"
        best = run / "weights" / "best.pt"
        chosen = best if best.is_file() else run / "weights" / "last.pt"
        trained, _ = load_ultralytics(chosen, device="cpu")
        state = {k: v.float() if v.is_floating_point() else v for k, v in trained.float().state_dict().items()}
        build(model_yaml, list(dataset.det_classes)).load_state_dict(state)  # the rebuild path must accept it
        train_seconds = time.perf_counter() - started
        out.parent.mkdir(parents=True, exist_ok=True)
        if (run / "results.csv").is_file():
            shutil.copyfile(run / "results.csv", out.with_suffix(".csv"))
        if (run / "args.yaml").is_file():
            text = (run / "args.yaml").read_text().replace(str(root), "<tmp>")
            out.with_name(f"{out.stem}.config.yaml").write_text(text)
        best_epoch = _best_epoch(run / "results.csv") if chosen == best else epochs
    manifest = {
        "task": task_cls.name,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "model_yaml": model_yaml,
        "class_names": list(dataset.det_classes),
        "imgsz": imgsz,
        "preprocess": "8-bit, gray repeated to 3 channels, square letterbox (long side = imgsz, pad 114)",
        "config": {"epochs": epochs, "batch_size": batch, "image_size": imgsz, "seed": config.seed,
                   "device": config.device, "workers": config.workers, "threads": threads,
                   "ultralytics_args": args, "options": dict(config.options)},
        "seed": config.seed,
        "best_epoch": best_epoch,
        "split_sizes": {k: len(v) for k, v in splits.items()},
        "packages": package_versions(),
        "train_seconds": round(train_seconds, 1),
        "device": config.device,
        "command": sys.argv,
        "init": str(config.init) if config.init is not None else None,
        "metrics": {},
    }
    save_checkpoint(out, state, manifest)
    # Score with the same path `bench run` uses (DetectionTask.evaluate), once, at the end.
    task = task_cls(dataset, device=config.device, checkpoint=str(out))
    metrics: dict[str, Any] = {}
    for split in ("val", "test"):
        try:
            samples = dataset.split(split)
        except BenchError:
            continue
        scores = task.evaluate([s.image for s in samples], samples)
        metrics[split] = {**{k: scores.summary[k] for k in task_cls.summary_columns if k in scores.summary}, "n_images": len(samples),
                          "n_boxes": int(sum(len(s.boxes) for s in samples if s.boxes is not None))}
        if split == "test":
            metrics["test_ap50_per_class"] = scores.extra["ap50_per_class"]
            metrics["test_ap50_95_per_class"] = scores.extra["ap50_95_per_class"]
    manifest["metrics"] = metrics
    save_checkpoint(out, state, manifest)
    return manifest
