"""`yolo`: an Ultralytics/YOLO detection dataset → boxes in pixels (xyxy) and class labels.

`--data yolo:/path/to/data.yaml` or `--data yolo:/path/to/dir` (a dir holding one *.yaml, or plain
`images/` + `labels/`). The YAML gives `names` (list or {id: name}), optional `path` (root) and
`train`/`val`/`test` entries, each an image folder, a .txt list of image paths, or a list of those.
Without split entries, `images/{train,val,test}/` subfolders are the splits, else a 70/10/20 hash.

Label files: the image path with its last `images` component replaced by `labels` and the suffix
by `.txt`; one object per line, `class cx cy w h` normalized to [0, 1] (a YOLO-seg polygon line
`class x1 y1 x2 y2 ...` gives its bounding box). An image without a label file has no objects.
Without a YAML, class names come from `classes.txt` / `obj.names` (one per line) or are class0, class1, ...

Options: modality=NAME, split=hash|train|val|test (override the YAML/subfolder splits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.datasets.base import SPLITS, Dataset, Sample
from bench.datasets.imageio import IMAGE_EXTS, assign_bit_depths, opt_bit_depth, hash_split, opt_split, read_image, reading, split_options
from bench.datasets.validate import Origin, build_dataset
from bench.errors import DatasetError

USAGE = "yolo:/path/to/data.yaml"
OPTIONS = {"modality": "modality name", "split": "hash|train|val|test", "bit_depth": "declared bit depth of 16-bit images"}
SPLIT_KEYS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def _label_path(image: Path) -> Path:
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")  # labels next to the images


def _entry_images(root: Path, entry, yaml_path: Path) -> list[Path]:
    items = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in items:
        p = Path(str(item)).expanduser()
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            images += _images_under(p)
        elif p.is_file() and p.suffix == ".txt":
            with reading(p):
                lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
            for ln in lines:
                q = Path(ln)
                images.append(q if q.is_absolute() else (root / q if (root / q).exists() else p.parent / q))
        else:
            raise DatasetError(f"{yaml_path}: split entry '{item}' is neither an image folder nor a .txt list ({p})")
    return images


def _names_from(raw, yaml_path: Path) -> list[str]:
    if isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except ValueError:
            raise DatasetError(f"{yaml_path}: 'names' keys must be class ids") from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{yaml_path}: 'names' ids must be 0..{len(ids) - 1}")
        return [str(raw[k] if k in raw else raw[str(k)]) for k in ids]
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    raise DatasetError(f"{yaml_path}: 'names' must be a list or an {{id: name}} mapping")


def _parse_labels(path: Path, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    with reading(path):
        text = path.read_text()
    boxes, labels = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: not numbers: {line.strip()[:60]!r}") from None
        cls = values[0]
        if cls != int(cls):
            raise DatasetError(f"{path}:{lineno}: class id {tokens[0]} is not an integer")
        if len(values) == 5:
            cx, cy, bw, bh = values[1:]
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        elif len(values) >= 7 and len(values) % 2 == 1:  # YOLO-seg polygon
            xs, ys = np.asarray(values[1::2]) * w, np.asarray(values[2::2]) * h
            box = [xs.min(), ys.min(), xs.max(), ys.max()]
        else:
            raise DatasetError(f"{path}:{lineno}: expected 'class cx cy w h' (5 numbers), got {len(values)}")
        boxes.append(box)
        labels.append(int(cls))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def open_yolo(path: str | None = None) -> Dataset:
    """Entry point for `--data yolo:/path/to/data.yaml|dir[,modality=..,split=..]`."""
    raw_path, options = split_options(path, OPTIONS, "yolo", USAGE)
    target = Path(raw_path).expanduser()
    forced = opt_split(options, "yolo")
    yaml_path = None
    if target.is_file():
        yaml_path = target
    elif target.is_dir():
        candidates = [target / n for n in ("data.yaml", "dataset.yaml", "data.yml") if (target / n).is_file()]
        candidates = candidates or sorted(target.glob("*.yaml")) + sorted(target.glob("*.yml"))
        if len(candidates) > 1:
            raise DatasetError(f"yolo: several YAML files in {target}; pass one: --data yolo:{candidates[0]}")
        yaml_path = candidates[0] if candidates else None
    else:
        raise DatasetError(f"yolo: {target} does not exist (--data {USAGE} or a folder with images/ and labels/)")

    root = target if target.is_dir() else target.parent
    names = None
    splits: dict[str, list[Path]] = {}
    if yaml_path is not None:
        import yaml

        with reading(yaml_path):
            data = yaml.safe_load(yaml_path.read_text())
        if not isinstance(data, dict) or "names" not in data:
            raise DatasetError(f"{yaml_path}: expected a YOLO data YAML with 'names'")
        names = _names_from(data["names"], yaml_path)
        if data.get("path"):
            p = Path(str(data["path"])).expanduser()
            root = p if p.is_absolute() else (yaml_path.parent / p)
            if not root.is_dir():  # Ultralytics resolves relative `path` against its datasets dir; try the YAML dir
                root = yaml_path.parent
        for key, split in SPLIT_KEYS.items():
            if data.get(key):
                splits.setdefault(split, []).extend(_entry_images(root, data[key], yaml_path))
    if not splits:
        image_dir = root / "images"
        if not image_dir.is_dir():
            raise DatasetError(f"yolo: no images/ folder in {root}" + (f" and no train/val/test in {yaml_path}" if yaml_path else ""))
        subs = [s for s in SPLITS if (image_dir / s).is_dir()]
        if subs:
            for s in subs:
                splits[s] = _images_under(image_dir / s)
        else:
            splits["hash"] = _images_under(image_dir)
    if names is None:
        for candidate in (root / "classes.txt", root / "obj.names", root / "labels" / "classes.txt"):
            if candidate.is_file():
                with reading(candidate):
                    names = [ln.strip() for ln in candidate.read_text().splitlines() if ln.strip()]
                break

    samples, origins = [], {}
    any_labels = False
    for split, images in splits.items():
        for image_path in images:
            if not image_path.is_file():
                raise DatasetError(f"yolo: image {image_path} listed in {yaml_path} does not exist")
            sid = image_path.stem
            if sid in origins:
                raise DatasetError(f"yolo: {image_path} has the same name as {origins[sid].image}")
            image = read_image(image_path)
            label_path = _label_path(image_path)
            if label_path.is_file():
                any_labels = True
                boxes, labels = _parse_labels(label_path, image.shape[1], image.shape[0])
            else:
                boxes, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
            chosen = forced if forced in SPLITS else hash_split(sid) if (forced == "hash" or split == "hash") else split
            origins[sid] = Origin(str(image_path), labels=str(label_path))
            samples.append(Sample(id=sid, image=image, bit_depth=8, split=chosen, boxes=boxes, labels=labels,
                                  modality=options.get("modality", "unknown")))
    if samples and not any_labels:
        raise DatasetError(f"yolo: no label files found for the images in {root} (expected labels/*.txt next to images/)")
    if names is None:
        top = max((int(s.labels.max()) for s in samples if len(s.labels)), default=0)
        names = [f"class{i}" for i in range(top + 1)]
    assign_bit_depths(samples, opt_bit_depth(options, "yolo"), f"yolo {root}")
    return build_dataset("yolo", samples, origins, det_classes=names,
                         description=f"{len(samples)} images with {sum(len(s.labels) for s in samples)} boxes from {root}",
                         source=str((yaml_path or root).resolve()))
