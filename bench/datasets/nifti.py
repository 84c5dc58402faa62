"""`nifti`: 3-D NIfTI volumes (+ label volumes) → 2-D slices with class maps.

    --data nifti:/p/image.nii.gz,label=/p/label.nii.gz[,axis=2,window=-160:240,skip_empty=1,gap=2,...]
    --data nifti:/p/dir        (dir/images/*.nii[.gz] + dir/labels/*.nii[.gz] with matching names;
                                also imagesTr/labelsTr, and nnU-Net's `_0000` channel suffix)

Without `label=`, a single image `X.nii.gz` looks for `X_label`, `X_seg`, `X_mask` or `label.nii.gz`
next to it; with none, slices have no masks.

Options (after the path, comma-separated key=value):
- `label=PATH`      label volume for a single image;
- `axis=0|1|2`      slicing axis after reorientation to RAS (default 2: axial); slices are shown with
                    anterior/superior up;
- `window=LO:HI`    map values in [LO, HI] (e.g. HU -160:240) linearly to 12-bit 0..4095, clipping outside;
                    without it integer values are kept (HU shifted by +1024 when ≥ -1024, else by -min;
                    8-bit when they fit 0..255, else 10/12/16 by the largest value) and float volumes
                    are scaled from their [min, max] to 12-bit; `extra["intensity"]` records the mapping;
- `skip_empty=1|0`  drop slices whose label is all background, before the split (so the slabs are made of
                    labelled slices and empty slices at the top cannot fill the test slab). Default: on
                    when the labels hold any foreground (on a 1 mm template the default split's test
                    slab was 34 of 37 empty slices), off without labels or with all-background ones;
                    `skip_empty=0` keeps every slice;
- `gap=N`           slices dropped at each split boundary (default 2; neighbouring slices are near copies);
- `slabs=N`         repeat the train/val/test slab pattern N times along the axis (default 1);
- `split=slab|volume|train|val|test`  slab: contiguous 70/10/20 slabs within each volume (default for one
                    volume), volume: whole volumes by a hash of their name (default for several);
- `classes=a+b`     names of label values 1, 2, ... (else a dataset.json "labels" map or classes.json
                    next to the volumes, else class1, class2, ...);
- `modality=CT|MR|...` (default: CT when values reach -900 or lower, else unknown); `canonical=0` keeps
                    the file's voxel order; `channel=N` picks a channel of a 4-D image (default 0);
- `bit_depth=8|10|12|16` declared bit depth of the stored values instead of the inferred one.

Every slice read is validated, dropped ones too (a label value outside the class list is an error
wherever it is); a split lacking a class found in another split is a warning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.imageio import (hash_split, load_class_file, opt_bit_depth, opt_bool, opt_classes, opt_int, opt_split,
                                    opt_window, reading, slab_splits, split_options)
from bench.datasets.intensity import finite_range, is_integer_valued, plan_intensity
from bench.datasets.validate import Origin, build_dataset
from bench.errors import DatasetError

USAGE = "nifti:/path/image.nii.gz,label=/path/label.nii.gz"
OPTIONS = {"label": "label volume", "axis": "0|1|2", "window": "LO:HI", "skip_empty": "1|0", "gap": "slices",
           "slabs": "count", "split": "slab|volume|train|val|test", "classes": "a+b", "modality": "name",
           "canonical": "1|0", "channel": "index", "bit_depth": "8|10|12|16"}
NII = re.compile(r"\.nii(\.gz)?$")
LABEL_SUFFIXES = ("_label", "_labels", "_seg", "_mask", "_gt")


def _case(path: Path) -> str:
    return NII.sub("", path.name)


def _volumes(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and NII.search(p.name) and not p.name.startswith("."))


def _pairs(target: Path, options: dict) -> list[tuple[str, Path, Path | None]]:
    if target.is_dir():
        image_dir = next((target / n for n in ("images", "imagesTr", "imagesTs", "image") if (target / n).is_dir()), None)
        if image_dir is None:
            raise DatasetError(f"nifti: no images/ folder in {target} (or give an image: --data {USAGE})")
        label_dir = next((target / n for n in ("labels", "labelsTr", "labelsTs", "label", "masks") if (target / n).is_dir()), None)
        labels = {_case(p): p for p in _volumes(label_dir)} if label_dir else {}
        pairs = []
        for image in _volumes(image_dir):
            case = _case(image)
            key = case if case in labels else re.sub(r"_\d{4}$", "", case)
            if key != case and not case.endswith("_0000"):
                continue  # other channels of a multi-channel nnU-Net case
            if label_dir is not None and key not in labels:
                raise DatasetError(f"nifti: no label volume for {image} in {label_dir}")
            pairs.append((key, image, labels.get(key)))
        used = {p[0] for p in pairs}
        orphans = sorted(set(labels) - used)
        if orphans:
            raise DatasetError(f"nifti: label volume {labels[orphans[0]]} has no image in {image_dir}")
        if not pairs:
            raise DatasetError(f"nifti: no *.nii or *.nii.gz volumes in {image_dir}")
        return pairs
    if not target.is_file():
        raise DatasetError(f"nifti: {target} does not exist (--data {USAGE})")
    label = options.get("label")
    if label:
        label_path = Path(label).expanduser()
        if not label_path.is_file():
            raise DatasetError(f"nifti: label volume {label_path} does not exist")
    else:
        case = _case(target)
        ext = target.name[len(case):]
        candidates = [target.parent / f"{case}{s}{ext}" for s in LABEL_SUFFIXES]
        if case not in ("label", "labels", "seg"):
            candidates.append(target.parent / f"label{ext}")
        label_path = next((c for c in candidates if c.is_file()), None)
    return [(_case(target), target, label_path)]


def _load(path: Path, canonical: bool, channel: int):
    import nibabel as nib

    with reading(path):
        img = nib.load(str(path))
        if canonical:
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)  # applies scl_slope/scl_inter when the header sets them
    if data.ndim == 4:
        if not 0 <= channel < data.shape[3]:
            raise DatasetError(f"{path}: channel={channel} but the volume has {data.shape[3]} channels")
        data = data[..., channel]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise DatasetError(f"{path}: {data.ndim}-D volume (expected 3-D, or 4-D with channel=N)")
    return data


def _slice(volume: np.ndarray, axis: int, k: int) -> np.ndarray:
    """One slice, transposed and flipped so that anterior (axial) or superior (others) is up."""
    return np.take(volume, k, axis=axis).T[::-1]


def _class_names(target: Path, options: dict, top: int) -> list[str]:
    names = opt_classes(options)
    folder = target if target.is_dir() else target.parent
    if names is None and (folder / "dataset.json").is_file():
        with reading(folder / "dataset.json"):
            labels = json.loads((folder / "dataset.json").read_text()).get("labels")
        if isinstance(labels, dict) and labels:
            pairs = []
            for k, v in labels.items():  # nnU-Net v1 {"0": "background"} or v2 {"background": 0}
                if str(k).isdigit():
                    pairs.append((int(k), str(v)))
                elif isinstance(v, int):
                    pairs.append((v, str(k)))
            if pairs:
                by_id = dict(pairs)
                names = [by_id.get(i, f"class{i}") for i in range(max(by_id) + 1)]
    if names is None:
        names = load_class_file(folder / "classes.json").names
    if names is None:
        names = ["background"] + [f"class{i}" for i in range(1, top + 1)]
    return names


def open_nifti(path: str | None = None) -> Dataset:
    """Entry point for `--data nifti:PATH[,label=..,axis=..,window=LO:HI,skip_empty=1,gap=N,...]`."""
    raw_path, options = split_options(path, OPTIONS, "nifti", USAGE)
    target = Path(raw_path).expanduser()
    axis = opt_int(options, "axis", 2, "nifti", (0, 1, 2))
    window = opt_window(options, "nifti")
    skip_empty = opt_bool(options, "skip_empty", True, "nifti") if "skip_empty" in options else None  # None: auto
    gap = opt_int(options, "gap", 2, "nifti")
    slabs = opt_int(options, "slabs", 1, "nifti")
    canonical = opt_bool(options, "canonical", True, "nifti")
    channel = opt_int(options, "channel", 0, "nifti")
    bit_depth = opt_bit_depth(options, "nifti")
    if gap < 0 or slabs < 1:
        raise DatasetError("nifti: gap must be ≥ 0 and slabs ≥ 1")
    split_mode = opt_split(options, "nifti", extra=("slab", "volume"))
    pairs = _pairs(target, options)
    split_mode = split_mode or ("slab" if len(pairs) == 1 else "volume")

    # Pass 1: load, check shapes, collect the value range for one dataset-wide intensity mapping.
    volumes = []
    vmin, vmax, integer = np.inf, -np.inf, True
    for case, image_path, label_path in pairs:
        data = _load(image_path, canonical, channel)
        label = None
        if label_path is not None:
            label = _load(label_path, canonical, 0)
            if label.shape != data.shape:
                raise DatasetError(f"{label_path}: label volume is {label.shape} but image {image_path} is {data.shape}")
            if not is_integer_valued(label):
                raise DatasetError(f"{label_path}: label volume has non-integer values")
            if label.size and label.min() < 0:
                raise DatasetError(f"{label_path}: negative label {int(label.min())}")
            label = label.astype(np.uint16 if label.max() > 255 else np.uint8)
        lo, hi = finite_range(data)
        vmin, vmax = min(vmin, lo), max(vmax, hi)
        integer = integer and is_integer_valued(data)
        volumes.append((case, image_path, label_path, data, label))
    intensity = plan_intensity(vmin, vmax, integer, window, source=f"nifti {target}", bit_depth=bit_depth)
    modality = options.get("modality") or ("CT" if vmin <= -900 else "unknown")

    samples, origins, dropped = [], {}, []
    top_label = max((int(label.max()) for *_, label in volumes if label is not None and label.size), default=0)
    if skip_empty is None:
        skip_empty = top_label > 0
    for case, image_path, label_path, data, label in volumes:
        n = data.shape[axis]
        if skip_empty:  # before the split: the slabs are cut from labelled slices only
            other = tuple(a for a in range(3) if a != axis)
            kept = [int(k) for k in np.flatnonzero(label.any(axis=other))] if label is not None else []
        else:
            kept = list(range(n))
        if split_mode == "slab":
            per_kept = slab_splits(len(kept), gap, slabs)
        else:
            fixed = hash_split(case) if split_mode == "volume" else split_mode
            per_kept = [fixed] * len(kept)
        split_of = dict(zip(kept, per_kept))
        for k in range(n):
            mask = _slice(label, axis, k).copy() if label is not None else None
            image = intensity.apply(_slice(data, axis, k))
            sid = f"{case}-{'xyz'[axis]}{k:03d}"
            origins[sid] = Origin(f"{image_path} slice {k}", f"{label_path} slice {k}" if label_path else None)
            sample = Sample(id=sid, image=image, bit_depth=intensity.bit_depth, modality=modality,
                            split=split_of.get(k) or "test", mask=mask)
            (samples if split_of.get(k) else dropped).append(sample)
    if not samples:
        what = "with a label" if skip_empty else ""
        raise DatasetError(f"nifti: no slices {what} in {target}".replace("  ", " "))
    has_labels = any(s.mask is not None for s in samples)
    return build_dataset(
        "nifti", samples, origins, seg_classes=_class_names(target, options, top_label) if has_labels else None,
        description=f"{len(samples)} {'xyz'[axis]}-slices from {len(pairs)} volume(s); {intensity.describe()}",
        source=str(target.resolve()),
        extra={"intensity": intensity.as_dict(), "axis": axis, "split_mode": split_mode, "gap": gap},
        dropped=dropped,
    )
