"""The dataset model shared by codecs' runner, task evaluators and training.

A `Sample` carries the image exactly as stored (uint8 or uint16 with a declared bit depth)
plus optional ground truth. A `Dataset` is an in-memory list of samples with its class names
and a content fingerprint that goes into every results manifest and task checkpoint, so a
number can always be traced to the exact pixels it came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from bench.errors import DatasetError

SPLITS = ("train", "val", "test")


@dataclass
class Sample:
    id: str
    image: np.ndarray  # H×W or H×W×3, uint8 or uint16
    bit_depth: int
    modality: str = "unknown"  # "MR", "CT", "endoscopy", "dermoscopy", ...
    split: str = "test"
    mask: np.ndarray | None = None  # H×W integer class map, 0 = background
    boxes: np.ndarray | None = None  # N×4 float32, xyxy in pixels
    labels: np.ndarray | None = None  # N int64 class ids into Dataset.det_classes

    @property
    def channels(self) -> int:
        return 1 if self.image.ndim == 2 else self.image.shape[2]


@dataclass
class Dataset:
    name: str
    samples: list[Sample]
    seg_classes: list[str] | None = None  # index = class id; 0 is background
    det_classes: list[str] | None = None
    description: str = ""
    source: str = ""  # where the pixels came from (path, package), for the manifest
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.samples:
            raise DatasetError(f"dataset '{self.name}' has no images ({self.source or 'no source'})")

    def split(self, name: str | None) -> list[Sample]:
        """Samples of one split; None or 'all' gives every sample."""
        if name in (None, "all"):
            return list(self.samples)
        if name not in SPLITS:
            raise DatasetError(f"unknown split '{name}' (choose from {', '.join(SPLITS)}, all)")
        chosen = [s for s in self.samples if s.split == name]
        if not chosen:
            raise DatasetError(f"dataset '{self.name}' has no '{name}' split (has {', '.join(self.split_counts())})")
        return chosen

    def split_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.samples:
            counts[s.split] = counts.get(s.split, 0) + 1
        return counts

    @property
    def tasks(self) -> list[str]:
        tasks = []
        if self.seg_classes and any(s.mask is not None for s in self.samples):
            tasks.append("seg")
        if self.det_classes and any(s.boxes is not None for s in self.samples):
            tasks.append("det")
        return tasks

    @property
    def bit_depths(self) -> list[int]:
        return sorted({s.bit_depth for s in self.samples})

    @property
    def modalities(self) -> list[str]:
        return sorted({s.modality for s in self.samples})

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over ids, splits, pixels, masks and boxes: changes when any of them does."""
        digest = hashlib.sha256()
        digest.update(repr((self.name, self.seg_classes, self.det_classes)).encode())
        for s in sorted(self.samples, key=lambda s: s.id):
            digest.update(f"{s.id}|{s.split}|{s.bit_depth}|{s.image.shape}|{s.image.dtype}".encode())
            digest.update(np.ascontiguousarray(s.image).tobytes())
            for arr in (s.mask, s.boxes, s.labels):
                if arr is not None:
                    digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()[:16]

    def summary(self) -> dict:
        """What `bench datasets` prints for this dataset."""
        return {
            "name": self.name,
            "images": len(self.samples),
            "splits": self.split_counts(),
            "modality": ",".join(self.modalities),
            "bit_depths": self.bit_depths,
            "channels": sorted({s.channels for s in self.samples}),
            "tasks": self.tasks,
            "seg_classes": self.seg_classes,
            "det_classes": self.det_classes,
            "fingerprint": self.fingerprint,
            "source": self.source,
            "description": self.description,
        }


def image_hash(image: np.ndarray, bit_depth: int) -> str:
    """Content address of one image, used by the results cache."""
    digest = hashlib.sha256(f"{image.shape}|{image.dtype}|{bit_depth}".encode())
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:20]
