"""`folder`: a directory of 2-D images with optional segmentation masks (Kvasir-SEG, CVC-ColonDB, ISIC, ...).

Layout (`--data folder:/path/to/dir[,option=value...]`):

    dir/images/NAME.{png,jpg,jpeg,tif,tiff,bmp}
    dir/masks/NAME[ _segmentation | _mask ].{png,jpg,tif,...}   (optional; also mask/, gt/, ground_truth/)
    dir/classes.json   (optional) ["background", "polyp"]  or  {"names": [...], "values": {"255": 1}, "bit_depth": 12, "modality": "CT"}
    dir/splits.json    (optional) {"train": [stems], "val": [...], "test": [...]}
or  dir/{train,val,test}/images/ + masks/

Masks: JPEG masks are thresholded at 128 to {0, 1}; PNG/TIFF masks with only 0/255 become {0, 1};
other values are class ids (palette PNGs: their indices), or are mapped through classes.json `values`.
Splits: splits.json, else split subfolders, else a deterministic 70/10/20 hash of the stem.
Bit depth: uint8 → 8; 16-bit PNG/TIFF → `bit_depth` from the option/classes.json/meta.json, else from
the dataset's largest value with a warning (≤255 → 8, stored as uint8; ≤1023 → 10; ≤4095 → 12; else 16).

Options: modality=NAME, bit_depth=10|12|16, classes=a+b (foreground names for ids 1, 2, ...),
split=hash|train|val|test (ignore splits.json/subfolders and use the hash or put everything in one split).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.datasets.base import SPLITS, Dataset, Sample
from bench.datasets.imageio import (IMAGE_EXTS, ClassFile, assign_bit_depths, hash_split, load_class_file, map_mask,
                                    opt_classes, opt_int, opt_split, read_image, read_mask, reading, split_options)
from bench.datasets.validate import Origin, build_dataset
from bench.errors import DatasetError

USAGE = "folder:/path/to/dir"
OPTIONS = {"modality": "modality name", "bit_depth": "declared bit depth of 16-bit images",
           "classes": "foreground class names a+b", "split": "hash|train|val|test"}
IMAGE_DIRS = ("images", "image", "imgs")
MASK_DIRS = ("masks", "mask", "gt", "ground_truth", "groundtruth")
MASK_SUFFIXES = ("", "_segmentation", "_Segmentation", "_mask", "_Mask", "-mask", "_gt")
MODALITY_HINTS = {"kvasir": "endoscopy", "cvc": "endoscopy", "colon": "endoscopy", "polyp": "endoscopy",
                  "etis": "endoscopy", "isic": "dermoscopy", "derm": "dermoscopy", "ham10000": "dermoscopy"}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS)


def _first_dir(root: Path, names) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _pairs(part: Path) -> list[tuple[Path, Path | None]]:
    """(image, mask or None) for one images/ + masks/ folder pair; strict about orphans."""
    image_dir = _first_dir(part, IMAGE_DIRS)
    if image_dir is None:
        raise DatasetError(f"folder: no images/ folder in {part}")
    images = _files(image_dir)
    mask_dir = _first_dir(part, MASK_DIRS)
    if mask_dir is None:
        return [(p, None) for p in images]
    masks = {p.stem: p for p in _files(mask_dir)}
    used: set[str] = set()
    pairs = []
    for image in images:
        stem = next((image.stem + s for s in MASK_SUFFIXES if image.stem + s in masks), None)
        if stem is None:
            raise DatasetError(f"folder: no mask for {image} in {mask_dir}")
        used.add(stem)
        pairs.append((image, masks[stem]))
    orphans = sorted(set(masks) - used)
    if orphans:
        raise DatasetError(f"folder: mask {masks[orphans[0]]} has no image in {image_dir}")
    return pairs


def _read_splits(path: Path, stems: set[str]) -> dict[str, str]:
    with reading(path):
        data = json.loads(path.read_text())
    if not isinstance(data, dict) or not set(data) <= set(SPLITS):
        raise DatasetError(f"{path}: expected {{\"train\": [stems], \"val\": [...], \"test\": [...]}}")
    out: dict[str, str] = {}
    for split, items in data.items():
        for stem in items:
            stem = Path(str(stem)).stem if Path(str(stem)).suffix.lower() in IMAGE_EXTS else str(stem)
            if stem not in stems:
                raise DatasetError(f"{path}: '{stem}' in '{split}' has no image")
            if stem in out and out[stem] != split:
                raise DatasetError(f"{path}: '{stem}' is in both '{out[stem]}' and '{split}'")
            out[stem] = split
    missing = sorted(stems - set(out))
    if missing:
        raise DatasetError(f"{path}: image '{missing[0]}' is in no split ({len(missing)} unlisted)")
    return out


def _meta(root: Path, classes: ClassFile) -> dict:
    meta = dict(classes.meta or {})
    path = root / "meta.json"
    if path.is_file():
        with reading(path):
            data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise DatasetError(f"{path}: expected a JSON object like {{\"bit_depth\": 12, \"modality\": \"CT\"}}")
        meta.update(data)
    return meta


def open_folder(path: str | None = None) -> Dataset:
    """Entry point for `--data folder:/path/to/dir[,modality=..,bit_depth=..,classes=a+b,split=..]`."""
    raw_path, options = split_options(path, OPTIONS, "folder", USAGE)
    root = Path(raw_path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"folder: {root} is not a directory (expected images/ and masks/ inside; --data {USAGE})")
    forced_split = opt_split(options, "folder")
    split_parts = [s for s in SPLITS if (root / s).is_dir() and _first_dir(root / s, IMAGE_DIRS) is not None]
    if _first_dir(root, IMAGE_DIRS) is not None:
        parts = [(None, root)]
    elif split_parts:
        parts = [(s, root / s) for s in split_parts]
    else:
        raise DatasetError(f"folder: no images/ folder in {root} (nor train/ val/ test/ folders with images/)")

    classes = load_class_file(root / "classes.json")
    meta = _meta(root, classes)
    names_opt = opt_classes(options)
    if names_opt:
        classes.names = names_opt

    entries: list[tuple[str | None, Path, Path | None]] = []
    for split, part in parts:
        entries += [(split, image, mask) for image, mask in _pairs(part)]
    if not entries:
        raise DatasetError(f"folder: no images (*{', *'.join(IMAGE_EXTS)}) in {root}")
    stems = [e[1].stem for e in entries]

    splits_file = root / "splits.json"
    by_stem = None
    if forced_split is None and splits_file.is_file():
        by_stem = _read_splits(splits_file, set(stems))

    samples, origins, images = [], {}, []
    for split, image_path, mask_path in entries:
        sid = image_path.stem
        if sid in origins:
            raise DatasetError(f"folder: {image_path} has the same name as {origins[sid].image}")
        image = read_image(image_path)
        mask = None
        if mask_path is not None:
            mask = map_mask(read_mask(mask_path), classes, mask_path)
        if forced_split in SPLITS:
            split = forced_split
        elif forced_split == "hash" or (split is None and by_stem is None):
            split = hash_split(sid)
        elif by_stem is not None:
            split = by_stem[sid]
        origins[sid] = Origin(str(image_path), str(mask_path) if mask_path else None)
        images.append(image)
        samples.append(Sample(id=sid, image=image, bit_depth=8, split=split, mask=mask))

    declared = opt_int(options, "bit_depth", None, "folder", (8, 10, 12, 16))
    if declared is None and meta.get("bit_depth") is not None:
        declared = meta["bit_depth"]
        if declared not in (8, 10, 12, 16):
            raise DatasetError(f"{classes.path or root / 'meta.json'}: bit_depth {declared!r} (choose from 8, 10, 12, 16)")
    assign_bit_depths(samples, declared, f"folder {root}")
    modality = options.get("modality") or meta.get("modality") or next(
        (m for key, m in MODALITY_HINTS.items() if key in str(root).lower()), "unknown")
    for s in samples:
        s.modality = str(modality)

    seg_classes = classes.names
    masks = [s.mask for s in samples if s.mask is not None]
    if masks and seg_classes is None:
        top = max(int(m.max()) for m in masks)
        seg_classes = ["background", "foreground"] if top <= 1 else ["background"] + [f"class{i}" for i in range(1, top + 1)]
    return build_dataset(
        "folder", samples, origins, seg_classes=seg_classes,
        description=f"{len(samples)} images from {root}" + (" with masks" if masks else ""),
        source=str(root.resolve()),
        extra={"layout": "splits.json" if by_stem else "subfolders" if parts[0][0] else "hash"},
    )

