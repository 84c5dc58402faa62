"""Checks every file-based loader runs before it hands out a Dataset.

Each failure is a one-line `DatasetError` that names the offending file: image/mask size mismatch,
mask values outside the class list, boxes outside the image (≤1 px float overshoot is clipped),
box labels outside the class list, empty datasets, pixel values above the declared bit depth, and
mixed bit depths within one dataset. Unreadable or truncated files are caught where they are read
(`imageio.reading`). Loaders only read, so nothing is ever written when loading fails.

Every file read is checked, including slices a split drops (the gaps between slabs, `skip_empty`): a
bad mask value is an error wherever it is. A split that lacks a class found in another split is a
`DataWarning`: its metrics would silently leave that class out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.datasets.base import SPLITS, Dataset, Sample
from bench.datasets.imageio import data_warning
from bench.errors import DatasetError

BOX_TOLERANCE = 1.0  # pixels of float overshoot that are clipped rather than refused


@dataclass
class Origin:
    """Where a sample's pieces came from, for error messages."""

    image: str
    mask: str | None = None
    labels: str | None = None  # YOLO .txt, COCO json, ...


def check_image(sample: Sample, origin: Origin) -> None:
    img = sample.image
    if img.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"{origin.image}: pixel type {img.dtype} (expected uint8 or uint16)")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3) or min(img.shape[:2]) < 1:
        raise DatasetError(f"{origin.image}: image shape {img.shape} (expected H×W or H×W×3)")
    if img.dtype == np.uint8 and sample.bit_depth != 8:
        raise DatasetError(f"{origin.image}: 8-bit pixels but declared bit depth {sample.bit_depth}")
    if img.dtype == np.uint16 and sample.bit_depth not in (10, 12, 16):
        raise DatasetError(f"{origin.image}: 16-bit pixels but declared bit depth {sample.bit_depth} (use 10, 12 or 16)")
    if img.dtype == np.uint16 and sample.bit_depth < 16 and img.size and int(img.max()) > 2**sample.bit_depth - 1:
        raise DatasetError(f"{origin.image}: pixel value {int(img.max())} exceeds the declared {sample.bit_depth}-bit range")


def check_mask(sample: Sample, origin: Origin, seg_classes: list[str] | None) -> None:
    if sample.mask is None:
        return
    where = origin.mask or origin.image
    mask = sample.mask
    if mask.ndim != 2:
        raise DatasetError(f"{where}: mask shape {mask.shape} (expected H×W class ids)")
    if mask.shape != sample.image.shape[:2]:
        raise DatasetError(f"{where}: mask is {mask.shape[1]}×{mask.shape[0]} but image {origin.image} is "
                           f"{sample.image.shape[1]}×{sample.image.shape[0]}")
    if not np.issubdtype(mask.dtype, np.integer):
        raise DatasetError(f"{where}: mask pixel type {mask.dtype} (expected integers)")
    if mask.size:
        lo, hi = int(mask.min()), int(mask.max())
        n = len(seg_classes or [])
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise DatasetError(f"{where}: mask label {bad} outside the {n} classes {seg_classes}")


def check_boxes(sample: Sample, origin: Origin, det_classes: list[str] | None) -> None:
    """Validate, and clip ≤1 px overshoot in place."""
    if sample.boxes is None:
        return
    where = origin.labels or origin.image
    boxes = np.asarray(sample.boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(sample.labels if sample.labels is not None else np.zeros(len(boxes)), np.int64).reshape(-1)
    if len(labels) != len(boxes):
        raise DatasetError(f"{where}: {len(boxes)} boxes but {len(labels)} labels")
    h, w = sample.image.shape[:2]
    n = len(det_classes or [])
    for i, (box, label) in enumerate(zip(boxes, labels)):
        if not np.all(np.isfinite(box)):
            raise DatasetError(f"{where}: box {i} of {sample.id} is not finite: {box.tolist()}")
        if not 0 <= label < n:
            raise DatasetError(f"{where}: box {i} of {sample.id} has label {int(label)} outside the {n} classes {det_classes}")
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            raise DatasetError(f"{where}: box {i} of {sample.id} is empty or inverted: {[round(float(v), 2) for v in box]}")
        if x1 < -BOX_TOLERANCE or y1 < -BOX_TOLERANCE or x2 > w + BOX_TOLERANCE or y2 > h + BOX_TOLERANCE:
            raise DatasetError(f"{where}: box {i} of {sample.id} {[round(float(v), 1) for v in box]} lies outside "
                               f"the {w}×{h} image {origin.image}")
    if len(boxes):
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    sample.boxes = boxes
    sample.labels = labels


def check_bit_depths(samples: list[Sample], origins: dict[str, Origin]) -> None:
    """One bit depth per dataset: name the first file that differs from the first image."""
    first = samples[0]
    for s in samples[1:]:
        if s.bit_depth != first.bit_depth or s.image.dtype != first.image.dtype:
            raise DatasetError(f"{origins[s.id].image}: {s.bit_depth}-bit {s.image.dtype} image in a dataset of "
                               f"{first.bit_depth}-bit images (first: {origins[first.id].image}); convert to one bit depth")


def check_ids(samples: list[Sample], origins: dict[str, Origin]) -> None:
    seen: dict[str, Sample] = {}
    for s in samples:
        if s.id in seen:
            raise DatasetError(f"{origins[s.id].image}: duplicate sample id '{s.id}' (two files with the same name?)")
        seen[s.id] = s


def validate(samples: list[Sample], origins: dict[str, Origin], seg_classes, det_classes, source: str,
             dropped: list[Sample] = ()) -> None:
    """Check `samples` and the `dropped` ones (read, then left out of every split) alike."""
    if not samples:
        raise DatasetError(f"{source}: no images found")
    every = list(samples) + list(dropped)
    check_ids(every, origins)
    for s in every:
        origin = origins[s.id]
        check_image(s, origin)
        check_mask(s, origin, seg_classes)
        check_boxes(s, origin, det_classes)
    check_bit_depths(every, origins)


def missing_classes(samples: list[Sample], seg_classes, det_classes) -> list[str]:
    """One line per split that lacks a class (mask pixels or boxes) found in another split."""
    lines = []
    for kind, classes, ids_of in (
        ("pixel", seg_classes, lambda s: np.unique(s.mask) if s.mask is not None else ()),
        ("box", det_classes, lambda s: np.unique(s.labels) if s.labels is not None and s.boxes is not None else ()),
    ):
        if not classes:
            continue
        present: dict[str, set[int]] = {}
        counts: dict[str, int] = {}
        for s in samples:
            present.setdefault(s.split, set()).update(int(i) for i in ids_of(s))
            counts[s.split] = counts.get(s.split, 0) + 1
        if len(present) < 2:
            continue
        found = set().union(*present.values()) - ({0} if kind == "pixel" else set())
        for split in [x for x in SPLITS if x in present]:
            lacking = sorted(found - present[split])
            if lacking:
                names = ", ".join(f"'{classes[i]}'" for i in lacking)
                where = ", ".join(x for x in SPLITS if x in present and x != split and set(lacking) & present[x])
                images = f"{counts[split]} image{'s' if counts[split] != 1 else ''}"
                lines.append(f"the {split} split ({images}) has no {kind} of class {names} (found in {where}): "
                             f"its scores leave {'it' if len(lacking) == 1 else 'them'} out")
    return lines


def build_dataset(name: str, samples: list[Sample], origins: dict[str, Origin], *, seg_classes=None, det_classes=None,
                  description: str = "", source: str = "", extra: dict | None = None,
                  dropped: list[Sample] = ()) -> Dataset:
    """Validate (`dropped`: samples read but in no split, checked all the same), warn about splits that
    lack a class, then wrap in a Dataset."""
    validate(samples, origins, seg_classes, det_classes, source, dropped)
    if seg_classes is not None and not any(s.mask is not None for s in samples):
        seg_classes = None
    for line in missing_classes(samples, seg_classes, det_classes):
        data_warning(f"{name} {source}: {line}")
    return Dataset(name=name, samples=samples, seg_classes=seg_classes, det_classes=det_classes,
                   description=description, source=source, extra=extra or {})
