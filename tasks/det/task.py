"""`det`: a YOLO detector (Ultralytics, trained by the project) judged by COCO mAP on decoded images."""

from __future__ import annotations

import importlib.util
from typing import ClassVar, Sequence

import numpy as np

from bench.checkpoints import checkpoint_name, find_checkpoint, load_checkpoint_arrays, stale_reason, weights_dirs, weights_id
from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.base import Task, target_field
from bench.tasks.det.metrics import DetectionMetric


def _has_boxes(dataset: Dataset) -> bool:
    return bool(dataset.det_classes) and any(s.boxes is not None for s in dataset.samples)


class DetectionTask(Task):
    name: ClassVar[str] = "det"
    summary_columns: ClassVar[tuple[str, ...]] = ("map50", "map50_95", "sensitivity", "sensitivity_fp05")
    headline_columns: ClassVar[tuple[str, ...]] = ("map50", "map50_95", "sensitivity")  # sensitivity: one-class detectors
    scoring_modules: ClassVar[tuple[str, ...]] = ("bench.tasks.det.metrics", "bench.tasks.det.model",
                                                    "bench.tasks.batches", "bench.tasks.lesion_metrics")
    scoring_packages: ClassVar[tuple[str, ...]] = ("torch", "ultralytics", "faster-coco-eval", "numpy")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        for module, package in (("ultralytics", "ultralytics"), ("faster_coco_eval", "faster-coco-eval")):
            if importlib.util.find_spec(module) is None:
                return f"{package} is not installed (pip install {package})"
        return None

    @classmethod
    def supports(cls, dataset: Dataset, weights: str | None = None) -> str | None:
        if not _has_boxes(dataset):
            return f"dataset '{dataset.name}' has no detection boxes"
        if weights:
            return None
        if find_checkpoint(cls.name, dataset.name) is None:
            where = ", ".join(str(d) for d in weights_dirs())
            return (f"no trained detector {checkpoint_name(cls.name, dataset.name)} in {where}; "
                    f"train one with `bench train-task det --data {dataset.name}`")
        return stale_reason(cls.name, dataset)

    def __init__(self, dataset: Dataset, device: str = "cpu", checkpoint: str | None = None, weights: str | None = None,
                 trust_pickle: bool = False) -> None:
        """Reads and checks the checkpoint; the network is built on first use (`model`), so a run
        whose scores are all cached never imports torch or ultralytics. The user's `weights`
        (`foreign.py`): Ultralytics .pt (with `trust_pickle`) or a bench checkpoint from other data."""
        if not _has_boxes(dataset):
            raise BenchError(f"task 'det': dataset '{dataset.name}' has no detection boxes")
        model = None
        if weights:
            from bench.tasks.det.foreign import load_user_weights

            state, manifest, model = load_user_weights(weights, dataset, trust_pickle)
            path = weights
        else:
            path = checkpoint or find_checkpoint(self.name, dataset.name)
            if path is None:
                raise BenchError(f"task 'det': {self.supports(dataset)}")
            state, manifest = load_checkpoint_arrays(path, dataset.fingerprint)
        names = list(manifest.get("class_names") or [])
        if names != list(dataset.det_classes):
            raise BenchError(f"checkpoint {path} detects {names}, but dataset '{dataset.name}' has classes "
                             f"{list(dataset.det_classes)}; retrain with `bench train-task det --data {dataset.name}`")
        self.dataset_name, self.class_names, self.manifest = dataset.name, names, manifest
        self.lesions = (dataset.extra or {}).get("lesions")  # per-lesion size and contrast, for breakdowns
        self.checkpoint = str(path)
        self.imgsz = int(manifest["imgsz"])
        self._device, self._state, self._model = device, state, None
        self._criterion = None
        if model is not None:  # built by Ultralytics from the file
            state = model.state_dict()
            self._model = model.eval().requires_grad_(False).to(self.device)
        self._model_id = weights_id(state, f"{manifest['model_yaml']}|{self.imgsz}|{names}")
        if weights:  # a file from elsewhere: that it fits the network is checked now, before any coding
            self.model

    @property
    def device(self):
        import torch

        return torch.device(self._device)

    @property
    def model(self):
        """The frozen YOLO network, built from the checkpoint the first time it is needed."""
        if self._model is None:
            import torch

            from bench.tasks.det.model import build

            model = build(self.manifest["model_yaml"], self.class_names)
            try:
                model.load_state_dict({k: torch.tensor(v) for k, v in self._state.items()})
            except RuntimeError as exc:
                raise BenchError(f"checkpoint {self.checkpoint} does not fit {self.manifest['model_yaml']}: {exc}".splitlines()[0]) from exc
            model.eval().requires_grad_(False)
            self._model = model.to(self.device)
        return self._model

    def model_id(self) -> str:
        return self._model_id

    def predict(self, images: Sequence[np.ndarray], samples: Sequence[Sample]) -> list[dict[str, np.ndarray]]:
        """Per image: boxes (N×4 xyxy pixels of the given image), scores, labels; conf ≥ 0.001."""
        from bench.tasks.det.model import as_batch, detect

        return detect(self.model, as_batch(list(images), list(samples), self.device), self.imgsz)

    def metric(self) -> DetectionMetric:
        return DetectionMetric(self.class_names, self.lesions)

    def loss(self, images, targets):
        """YOLO detection loss (box + cls + dfl, Ultralytics' gains), mean over the batch.

        images: N×C×H×W float in [0, 1], C = 1 (repeated to 3) or 3, one H×W for the batch, on any
        device; letterboxed exactly as `predict` does, so gradients flow back to these pixels.
        targets: one per image, a `Sample` or a dict with `boxes` (K×4 xyxy pixels of the H×W image)
        and `labels` (K class ids). The network is frozen; only the input receives gradients.
        """
        import torch

        from bench.tasks.det.model import letterbox

        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"loss expects N×1×H×W or N×3×H×W images, got {tuple(images.shape)}")
        if len(targets) != images.shape[0]:
            raise ValueError(f"{len(targets)} targets for {images.shape[0]} images")
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x, (gx, gy), px, py = letterbox(x, self.imgsz)
        idx, cls, boxes = [], [], []
        for i, target in enumerate(targets):
            b = torch.as_tensor(np.asarray(target_field(target, "boxes"), np.float32).reshape(-1, 4))
            labels = torch.as_tensor(np.asarray(target_field(target, "labels"), np.int64).reshape(-1))
            x1, y1, x2, y2 = b[:, 0] * gx + px, b[:, 1] * gy + py, b[:, 2] * gx + px, b[:, 3] * gy + py
            boxes.append(torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1) / self.imgsz)
            cls.append(labels.float())
            idx.append(torch.full((len(labels),), float(i)))
        batch = {"batch_idx": torch.cat(idx).to(self.device), "cls": torch.cat(cls).view(-1, 1).to(self.device),
                 "bboxes": torch.cat(boxes).to(self.device)}
        if self._criterion is None:
            from ultralytics.cfg import get_cfg

            self.model.args = get_cfg()  # Ultralytics' default gains: box 7.5, cls 0.5, dfl 1.5 (as trained)
            self._criterion = self.model.init_criterion()
        total, _ = self._criterion(self.model(x), batch)
        return total.sum() / images.shape[0]

    trainer = "bench.train.det:train_det"
