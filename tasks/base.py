"""The task contract: a frozen network judged on decoded pixels.

The runner only needs `supports`, the constructor, `model_id` and `evaluate`. Training code
(the task networks' own, and the task-aware codec's) also uses `predict` and the
differentiable `loss`, whose gradients must reach the input images.
Metrics follow the update/compute shape (torchmetrics' `Metric`), so one image, a batch
or a whole split are scored the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from bench.codecs.options import CodecOption
from bench.datasets.base import Dataset, Sample


@dataclass
class TaskScores:
    per_image: list[dict[str, float]]  # one dict per image, same order as the input
    summary: dict[str, float]  # dataset-level figures (mean Dice, mIoU, mAP50, ...)
    extra: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    """Accumulate with `update`, read once with `compute`, start again with `reset`.

    The state is declared, as torchmetrics' `add_state(name, [], dist_reduce_fx="cat")`: `states`
    names the lists `update` appends to, in image order. `reset` empties them and `merge` appends
    another accumulator's, so images scored apart (batches, processes, workers) combine into the
    figures one accumulator over all of them gives, with no special case per task."""

    states: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def update(self, predictions: Any, samples: Sequence[Sample]) -> None: ...

    @abstractmethod
    def compute(self) -> TaskScores: ...

    def reset(self) -> None:
        for name in self.states:
            setattr(self, name, [])

    def merge(self, other: "Metric") -> "Metric":
        """Append `other`'s images after this one's (the same metric, set up the same way)."""
        if type(other) is not type(self) or _setup(other) != _setup(self):
            raise ValueError(f"cannot merge a {type(other).__name__} set up differently into this {type(self).__name__}")
        for name in self.states:
            getattr(self, name).extend(getattr(other, name))
        return self


def _setup(metric: Metric) -> dict:
    """What a metric was constructed with: every attribute that is not accumulated state."""
    return {k: v for k, v in vars(metric).items() if k not in metric.states}


@dataclass
class TrainConfig:
    """What `bench train-task` passes to a task's `train`; None means the task's own default."""

    out: Path  # checkpoint path (.pt); the manifest (.json) and per-epoch log (.csv) go beside it
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int | None = None
    seed: int = 0
    device: str = "cpu"
    workers: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    resume: bool = False  # continue exactly from <out>.resume.pt (recipes on the project's loop)
    init: Path | None = None  # start from these weights


class Task(ABC):
    name: ClassVar[str]
    summary_columns: ClassVar[tuple[str, ...]] = ()  # columns this task adds to summary.csv
    # what computes this task's scores from pixels (prediction, post-processing, metrics) and the
    # libraries it calls: their digest is part of every cached score's key (`scoring_version`)
    scoring_modules: ClassVar[tuple[str, ...]] = ()
    scoring_packages: ClassVar[tuple[str, ...]] = ()
    headline_columns: ClassVar[tuple[str, ...]] = ()  # the few `bench run` prints in its table
    lower_is_better: ClassVar[tuple[str, ...]] = ()  # metric columns where smaller is better (e.g. hd95)
    # settings a user may give: `--task seg:weights=FILE` (a network trained elsewhere)
    options: ClassVar[tuple[CodecOption, ...]] = (
        CodecOption("weights", str, "", "a network file trained elsewhere, used instead of the one trained here for the dataset"),)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    @classmethod
    @abstractmethod
    def supports(cls, dataset: Dataset, weights: str | None = None) -> str | None:
        """None if this task can run on `dataset` (labels exist, and a trained network unless the
        user gives `weights`), else why not."""

    @abstractmethod
    def __init__(self, dataset: Dataset, device: str = "cpu", checkpoint: str | None = None, weights: str | None = None,
                 trust_pickle: bool = False) -> None:
        """`checkpoint`: a file trained here (its dataset fingerprint must match); `weights`: the
        user's own network from elsewhere (no fingerprint applies); `trust_pickle`: the user
        allowed a pickled file (it can run code) to load."""

    @abstractmethod
    def model_id(self) -> str:
        """Content hash of the network weights: results cached under another id are not reused."""

    def scoring_version(self) -> str:
        """Digest of the scoring code (the task's own module and `scoring_modules`): cached
        scores made by other code are never reused."""
        from bench.versions import code_version

        return code_version((type(self).__module__, *self.scoring_modules), self.scoring_packages)

    @abstractmethod
    def predict(self, images: Sequence[np.ndarray], samples: Sequence[Sample]) -> list[Any]:
        """Network outputs for decoded images; `samples` give bit depth and modality, never labels."""

    @abstractmethod
    def metric(self) -> Metric: ...

    @abstractmethod
    def loss(self, images, targets):
        """Differentiable task loss of the frozen network on a float image batch (N×C×H×W in [0, 1]).

        `targets`: one per image, a `Sample` or a dict with the same label fields (`mask` for
        segmentation; `boxes` xyxy pixels and `labels` for detection), so that a task-driven
        codec trains against any task through one call."""

    # How `bench train-task NAME` trains the network: "module:function" of its recipe, called as
    # function(task_cls, dataset, TrainConfig) -> manifest (checkpoint, manifest and log written).
    # Training lives in bench/train/; a task keeps its loss, augmentation and inference.
    trainer: ClassVar[str] = ""
    train_defaults: ClassVar[dict] = {}  # training options this task sets on top of its recipe's defaults

    def evaluate(self, images: Sequence[np.ndarray], samples: Sequence[Sample], batch_size: int = 16) -> TaskScores:
        metric = self.metric()
        for start in range(0, len(images), batch_size):
            chunk = samples[start : start + batch_size]
            metric.update(self.predict(images[start : start + batch_size], chunk), chunk)
        return metric.compute()


def target_field(target: Any, name: str):
    """A label field of a `Sample` or of a dict (the two shapes `Task.loss` accepts)."""
    return target[name] if isinstance(target, dict) else getattr(target, name)
