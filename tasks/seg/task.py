"""`seg`: a frozen U-Net segments every decoded image; Dice / IoU (/ HD95) against the masks.

The network (`tasks/seg/model.py`) is trained per dataset with
`bench train-task seg --data NAME` and found by `bench.checkpoints.find_checkpoint`. A checkpoint
is refused on data whose fingerprint differs from the data it was trained on. Metrics are
defined in `tasks/seg/metrics.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from bench.checkpoints import find_checkpoint, load_checkpoint_arrays, stale_reason, weights_id
from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.base import Task, TaskScores
from bench.tasks.seg.metrics import SegMetric


class SegmentationTask(Task):
    name: ClassVar[str] = "seg"
    summary_columns: ClassVar[tuple[str, ...]] = ("dice", "iou", "miou", "fg_miou", "dice_monai", "hd95", "lesion_dice",
                                                  "seg_sensitivity", "seg_sensitivity_fp05")
    headline_columns: ClassVar[tuple[str, ...]] = ("dice", "miou", "hd95", "lesion_dice", "seg_sensitivity")  # lesion_*: one foreground class
    lower_is_better: ClassVar[tuple[str, ...]] = ("hd95",)
    scoring_modules: ClassVar[tuple[str, ...]] = ("bench.tasks.seg.metrics", "bench.tasks.seg.model", "bench.tasks.seg.predict",
                                                    "bench.tasks.batches", "bench.tasks.lesion_metrics")
    scoring_packages: ClassVar[tuple[str, ...]] = ("torch", "monai", "numpy")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        from importlib.util import find_spec

        return None if find_spec("torch") else "torch is not installed (pip install torch)"

    @classmethod
    def supports(cls, dataset: Dataset, weights: str | None = None) -> str | None:
        if not dataset.seg_classes or not any(s.mask is not None for s in dataset.samples):
            return f"dataset '{dataset.name}' has no segmentation masks"
        if weights:
            return None
        if find_checkpoint(cls.name, dataset.name) is None:
            return (f"no trained segmentation network for '{dataset.name}'; train one with "
                    f"`bench train-task {cls.name} --data {dataset.name}`")
        return stale_reason(cls.name, dataset)

    def __init__(self, dataset: Dataset, device: str = "cpu", checkpoint: str | None = None, weights: str | None = None,
                 trust_pickle: bool = False) -> None:
        """Reads and checks the checkpoint; the network is built on first use (`model`), so a run
        whose scores are all cached never imports torch. The user's `weights` may come from
        elsewhere: no fingerprint applies, and a bare U-Net state dict is read by its shapes."""
        path = Path(weights or checkpoint) if (weights or checkpoint) else find_checkpoint(self.name, dataset.name)
        if path is None:
            raise BenchError(self.supports(dataset) or f"no segmentation checkpoint for '{dataset.name}'")
        if not Path(path).is_file():
            raise BenchError(f"segmentation checkpoint {path} not found")
        if weights:
            from bench.tasks.seg.foreign import load_user_weights

            state, manifest = load_user_weights(path, dataset, self.name)
        else:
            state, manifest = load_checkpoint_arrays(path, dataset.fingerprint)
        if manifest.get("task", self.name) != self.name:
            raise BenchError(f"checkpoint {path} is a '{manifest.get('task')}' checkpoint, not a segmentation one")
        self.checkpoint, self.manifest, self.device = Path(path), manifest, device
        self.lesions = (dataset.extra or {}).get("lesions")  # per-lesion size and contrast, for breakdowns
        self.class_names = list(manifest.get("seg_classes") or dataset.seg_classes or [])
        if dataset.seg_classes and list(dataset.seg_classes) != self.class_names:
            raise BenchError(f"checkpoint {path} predicts classes {self.class_names}, dataset '{dataset.name}' has {dataset.seg_classes}")
        self._class_weights = state.pop("_class_weights", None)
        self._state, self._model = state, None
        self.channels = manifest["model"]["in_channels"]
        from bench.tasks.seg.predict import DEFAULT_INFERENCE

        self.inference = {**DEFAULT_INFERENCE, **(manifest.get("inference") or {})}
        self._model_id = weights_id(state, json.dumps(self.inference, sort_keys=True))
        if weights:  # a file from elsewhere: that it fits the network is checked now, before any coding
            self.model

    @property
    def model(self):
        """The frozen U-Net, built from the checkpoint the first time it is needed."""
        if self._model is None:
            import torch

            from bench.tasks.seg.model import UNet

            cfg = self.manifest["model"]
            model = UNet(cfg["in_channels"], cfg["num_classes"], base=cfg["base"], coords=cfg.get("coords", True))
            try:
                model.load_state_dict({k: torch.tensor(v) for k, v in self._state.items()})
            except RuntimeError as exc:
                raise BenchError(f"checkpoint {self.checkpoint} does not fit the segmentation network: {exc}".splitlines()[0]) from exc
            # channels-last (NHWC) weights: oneDNN's NHWC convolutions score a 217×181 slice 1.3–1.4× faster
            # on one CPU core than NCHW ones (flip TTA, batch 4: 0.20 s against 0.27–0.29 s on a Zen 3), with
            # probabilities within 3e-6 and the same masks (tests/test_seg_layout.py)
            model.to(self.device, memory_format=torch.channels_last).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            self._model = model
        return self._model

    @property
    def class_weights(self):
        if self._class_weights is None:
            return None
        import torch

        return torch.tensor(self._class_weights).float().to(self.device)

    def model_id(self) -> str:
        return self._model_id

    def predict(self, images: Sequence[np.ndarray], samples: Sequence[Sample]) -> list[np.ndarray]:
        """H×W class maps (uint8) for the decoded images, normalised by each sample's bit depth."""
        from bench.tasks.seg.predict import predict_masks

        return predict_masks(self.model, list(images), [s.bit_depth for s in samples], self.channels, self.device,
                             **self.inference, probability=len(self.class_names) == 2)

    def metric(self) -> SegMetric:
        return SegMetric(self.class_names, lesions=self.lesions)

    def loss(self, images, targets):
        """Dice + class-weighted CE of the frozen network on float images N×C×H×W in [0, 1].

        `targets`: one `Sample` or {"mask": H×W} per image, or N×H×W class ids (tensor, array or
        list of masks). Gradients flow to `images`.
        """
        import torch

        from bench.tasks.base import target_field
        from bench.tasks.seg.train import seg_loss

        if isinstance(targets, (list, tuple)) and targets and not isinstance(targets[0], (np.ndarray,)) and not torch.is_tensor(targets[0]):
            targets = [np.asarray(target_field(t, "mask")) for t in targets]
        if not torch.is_tensor(targets):
            targets = torch.as_tensor(np.stack([np.asarray(t) for t in targets]) if isinstance(targets, (list, tuple)) else np.asarray(targets))
        targets = targets.to(images.device).long()
        if images.shape[1] != self.channels:
            images = images.expand(-1, self.channels, -1, -1) if images.shape[1] == 1 else images.mean(1, keepdim=True)
        self.model.eval()
        weights = self.class_weights.to(images.device) if self.class_weights is not None else None
        return seg_loss(self.model(images), targets, weights)

    trainer = "bench.train.seg:train_seg"


HOLDOUT_PREFIX = "holdout_"


class HoldoutSegmentationTask(SegmentationTask):
    """A second, independent segmentation network (another width; train it with another seed):
    an evaluator no codec is ever trained against. A task-driven codec can learn the blind spots
    of the network that scores it; its gain must also hold here to be a gain."""

    name: ClassVar[str] = "seg-holdout"
    holdout: ClassVar[bool] = True  # `bench train-codec` refuses to train against it
    train_defaults: ClassVar[dict] = {"base": 24}
    prefix: ClassVar[str] = HOLDOUT_PREFIX  # its figures sit beside the scoring net's, never over them
    summary_columns: ClassVar[tuple[str, ...]] = tuple(HOLDOUT_PREFIX + c for c in SegmentationTask.summary_columns)
    headline_columns: ClassVar[tuple[str, ...]] = tuple(HOLDOUT_PREFIX + c for c in SegmentationTask.headline_columns)
    lower_is_better: ClassVar[tuple[str, ...]] = tuple(HOLDOUT_PREFIX + c for c in SegmentationTask.lower_is_better)

    def evaluate(self, images, samples, batch_size: int = 16) -> TaskScores:
        scores = super().evaluate(images, samples, batch_size)
        return TaskScores([{self.prefix + k: v for k, v in d.items()} for d in scores.per_image],
                          {self.prefix + k: v for k, v in scores.summary.items()}, scores.extra)


