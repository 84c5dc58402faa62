"""`coco`: COCO-format annotation JSON → boxes, labels and (where annotations have a
`segmentation`) rasterized class maps.

`--data coco:/path/to/annotations.json[,images=DIR,split=...,modality=...]`, or a folder: every
`*.json` in it and in its `annotations/` subfolder, each one split (train/val/test from its name).
Image files: `images=DIR/file_name` when given, else the first that exists of
`<json dir>/file_name`, `<json dir>/images/file_name`, `<json dir>/../images/file_name`,
`<json dir>/../file_name`, `<json dir>/../<json stem minus "instances_">/file_name` (COCO's own layout).

Category ids (any order, gaps allowed) become contiguous detection ids 0..K-1 by ascending id, and
segmentation ids 1..K (0 = background). Polygons and RLE masks are rasterized with pycocotools when
installed, else faster_coco_eval's mask utilities, else PIL (polygons only); larger objects are
painted first so small ones stay visible. `iscrowd` annotations go into the mask but not the boxes.
Splits: `split=` option, else from the JSON file name (…train…/…val…/…test…), else a 70/10/20 hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.imageio import assign_bit_depths, opt_bit_depth, hash_split, opt_split, read_image, reading, split_options
from bench.datasets.validate import Origin, build_dataset
from bench.errors import DatasetError

USAGE = "coco:/path/to/annotations.json"
OPTIONS = {"images": "image folder", "split": "hash|train|val|test", "modality": "modality name", "bit_depth": "declared bit depth of 16-bit images"}


def _mask_backend():
    try:
        from pycocotools import mask as mask_util  # type: ignore

        return mask_util
    except ImportError:
        pass
    try:
        from faster_coco_eval.core import mask as mask_util  # type: ignore

        return mask_util
    except ImportError:
        return None


def _rasterize(segmentation, h: int, w: int, backend, where: str) -> np.ndarray:
    """One annotation's segmentation → bool H×W."""
    if isinstance(segmentation, list):  # polygons
        polygons = [p for p in segmentation if isinstance(p, (list, tuple)) and len(p) >= 6]
        if not polygons:
            return np.zeros((h, w), bool)
        if backend is not None:
            rles = backend.frPyObjects([[float(v) for v in p] for p in polygons], h, w)
            return backend.decode(backend.merge(rles)).astype(bool)
        from PIL import Image, ImageDraw

        canvas = Image.new("1", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        for p in polygons:
            draw.polygon([(float(p[i]), float(p[i + 1])) for i in range(0, len(p) - 1, 2)], fill=1, outline=1)
        return np.asarray(canvas, bool)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        if backend is None:
            raise DatasetError(f"{where}: RLE masks need pycocotools or faster_coco_eval (pip install faster-coco-eval)")
        rle = segmentation
        if isinstance(rle["counts"], list):
            rle = backend.frPyObjects(rle, *rle.get("size", (h, w)))
        elif isinstance(rle["counts"], str):
            rle = dict(rle, counts=rle["counts"].encode())
        m = backend.decode(rle)
        if m.ndim == 3:
            m = m.any(axis=2)
        return m.astype(bool)
    raise DatasetError(f"{where}: unsupported segmentation (expected polygons or RLE)")


def _find_image(json_path: Path, file_name: str, images_dir: Path | None) -> Path:
    if images_dir is not None:
        return images_dir / file_name
    base = json_path.parent
    stem = json_path.stem.replace("instances_", "").replace("person_keypoints_", "")
    for candidate in (base / file_name, base / "images" / file_name, base.parent / "images" / file_name,
                      base.parent / file_name, base.parent / stem / file_name, base / stem / file_name):
        if candidate.is_file():
            return candidate
    return base / file_name


def _split_from_name(json_path: Path) -> str | None:
    name = json_path.stem.lower()
    for key, split in (("train", "train"), ("val", "val"), ("valid", "val"), ("test", "test")):
        if key in name:
            return split
    return None


def _load_json(json_path: Path) -> dict:
    with reading(json_path):
        data = json.loads(json_path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("categories"), list):
        raise DatasetError(f"{json_path}: not a COCO annotation file (needs 'images' and 'categories' lists)")
    return data


def open_coco(path: str | None = None) -> Dataset:
    """Entry point for `--data coco:/path/to/annotations.json|dir[,images=DIR,split=..,modality=..]`."""
    raw_path, options = split_options(path, OPTIONS, "coco", USAGE)
    target = Path(raw_path).expanduser()
    forced = opt_split(options, "coco")
    images_dir = Path(options["images"]).expanduser() if options.get("images") else None
    if target.is_dir():
        json_paths = sorted(target.glob("*.json")) + sorted((target / "annotations").glob("*.json"))
        if not json_paths:
            raise DatasetError(f"coco: no *.json annotation files in {target} or {target / 'annotations'}")
    elif target.is_file():
        json_paths = [target]
    else:
        raise DatasetError(f"coco: {target} does not exist (--data {USAGE})")
    if images_dir is not None and not images_dir.is_dir():
        raise DatasetError(f"coco: images folder {images_dir} does not exist")

    backend = _mask_backend()
    categories: list[tuple[int, str]] | None = None
    first_json = None
    samples, origins = [], {}
    has_segmentation = False
    for json_path in json_paths:
        data = _load_json(json_path)
        cats = sorted((int(c["id"]), str(c.get("name", c["id"]))) for c in data["categories"])
        if categories is None:
            categories, first_json = cats, json_path
        elif cats != categories:
            raise DatasetError(f"{json_path}: categories differ from those in {first_json}")
        cat_index = {cid: i for i, (cid, _) in enumerate(categories)}
        anns_by_image: dict[int, list[dict]] = {}
        image_ids = {img.get("id") for img in data["images"]}
        for ann in data.get("annotations", []):
            if ann.get("image_id") not in image_ids:
                raise DatasetError(f"{json_path}: annotation {ann.get('id')} refers to unknown image_id {ann.get('image_id')}")
            if ann.get("category_id") not in cat_index:
                raise DatasetError(f"{json_path}: annotation {ann.get('id')} has unknown category_id {ann.get('category_id')}")
            anns_by_image.setdefault(ann["image_id"], []).append(ann)
            if ann.get("segmentation"):
                has_segmentation = True
        json_split = forced or _split_from_name(json_path) or "hash"
        for info in data["images"]:
            file_name = str(info.get("file_name", ""))
            image_path = _find_image(json_path, file_name, images_dir)
            if not image_path.is_file():
                raise DatasetError(f"{json_path}: image file '{file_name}' not found (looked for {image_path}; give images=DIR)")
            sid = Path(file_name).stem
            if sid in origins:
                raise DatasetError(f"{json_path}: image {image_path} has the same name as {origins[sid].image}")
            image = read_image(image_path)
            h, w = image.shape[:2]
            if (info.get("height"), info.get("width")) not in ((None, None), (h, w)):
                raise DatasetError(f"{image_path}: image is {w}×{h} but {json_path} says {info.get('width')}×{info.get('height')}")
            where = f"{json_path} (image {file_name})"
            anns = anns_by_image.get(info.get("id"), [])
            boxes, labels, painted = [], [], []
            for ann in anns:
                label = cat_index[ann["category_id"]]
                seg = ann.get("segmentation")
                region = _rasterize(seg, h, w, backend, where) if seg else None
                if region is not None:
                    painted.append((float(region.sum()), label, region))
                if ann.get("iscrowd"):
                    continue
                bbox = ann.get("bbox")
                if bbox is None and region is not None and region.any():
                    ys, xs = np.nonzero(region)
                    bbox = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
                if bbox is None or len(bbox) != 4:
                    raise DatasetError(f"{where}: annotation {ann.get('id')} has no usable bbox [x, y, w, h]")
                x, y, bw, bh = (float(v) for v in bbox)
                boxes.append([x, y, x + bw, y + bh])
                labels.append(label)
            mask = None
            if painted or has_segmentation:
                mask = np.zeros((h, w), np.uint8 if len(categories) < 255 else np.uint16)
                for _, label, region in sorted(painted, key=lambda t: -t[0]):
                    mask[region] = label + 1
            split = hash_split(sid) if json_split == "hash" else json_split
            origins[sid] = Origin(str(image_path), labels=str(json_path))
            samples.append(Sample(id=sid, image=image, bit_depth=8, split=split, mask=mask,
                                  boxes=np.asarray(boxes, np.float32).reshape(-1, 4), labels=np.asarray(labels, np.int64),
                                  modality=options.get("modality", "unknown")))
    if has_segmentation:  # images read before the first segmentation was seen get an empty mask too
        for s in samples:
            if s.mask is None:
                s.mask = np.zeros(s.image.shape[:2], np.uint8)
    names = [n for _, n in (categories or [])]
    assign_bit_depths(samples, opt_bit_depth(options, "coco"), f"coco {target}")
    return build_dataset("coco", samples, origins, det_classes=names or None,
                         seg_classes=["background"] + names if has_segmentation else None,
                         description=f"{len(samples)} images, {len(names)} categories from {', '.join(p.name for p in json_paths)}",
                         source=str(target.resolve()))
