"""`phantom`: a deterministic synthetic dataset that needs no files, for tests and smoke runs.

Three variants, each with segmentation masks (background / organ / lesion) and lesion boxes:
- `ct12`: gray 12-bit CT-like abdominal slices (stored HU + 1024), liver and kidneys, hypodense lesions;
- `mr8`: gray 8-bit MR-like head slices, brain with bright lesions, bias field and Rician-like noise;
- `endo`: RGB 8-bit endoscopy-like frames with a raised polyp.
`--data phantom` gives all three; `--data phantom:ct12,mr8` picks variants.

Generated once per variant list and code version, then read from the datasets store (see
`bench.datasets.store`): generating the 42 slices, with scipy's filters, took 1 s of every run.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.store import stored_or_built
from bench.errors import DatasetError

SHAPE = (192, 176)
SPLIT_SIZES = {"train": 8, "val": 2, "test": 4}
SEG_CLASSES = ["background", "organ", "lesion"]
DET_CLASSES = ["lesion"]
VARIANTS = ("ct12", "mr8", "endo")


def _rng(variant: str, index: int) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{variant}:{index}".encode()))


def _ellipse(yy, xx, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    y, x = yy - cy, xx - cx
    return ((x * c + y * s) / rx) ** 2 + ((-x * s + y * c) / ry) ** 2 <= 1.0


def _lesions(rng, yy, xx, inside: np.ndarray, count: int, radius: tuple[float, float]) -> list[np.ndarray]:
    """Random elliptic lesions whose centres fall inside `inside`."""
    from scipy import ndimage
    candidates = np.argwhere(ndimage.binary_erosion(inside, iterations=int(radius[1]) + 2))
    blobs = []
    for _ in range(count if len(candidates) else 0):
        cy, cx = candidates[rng.integers(len(candidates))]
        ry, rx = rng.uniform(*radius, size=2)
        blobs.append(_ellipse(yy, xx, cy, cx, ry, rx, rng.uniform(0, np.pi)) & inside)
    return blobs


def _texture(rng, shape, sigma: float) -> np.ndarray:
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return noise / (noise.std() + 1e-9)


def _ct_slice(rng, yy, xx):
    from scipy import ndimage

    h, w = SHAPE
    hu = np.full(SHAPE, -1000.0)
    body = _ellipse(yy, xx, h / 2, w / 2, h * 0.42, w * 0.46)
    hu[body] = -100 + 15 * _texture(rng, SHAPE, 6)[body]  # fat
    muscle = _ellipse(yy, xx, h / 2, w / 2, h * 0.36, w * 0.40)
    hu[muscle] = 45
    liver = _ellipse(yy, xx, h * 0.45, w * 0.36, h * rng.uniform(0.18, 0.24), w * rng.uniform(0.17, 0.22), rng.uniform(-0.4, 0.4))
    kidneys = _ellipse(yy, xx, h * 0.62, w * 0.72, h * 0.09, w * 0.06) | _ellipse(yy, xx, h * 0.62, w * 0.28, h * 0.09, w * 0.06)
    kidneys &= ~liver
    spine = _ellipse(yy, xx, h * 0.72, w / 2, h * 0.06, w * 0.06)
    hu[liver] = 60
    hu[kidneys] = 150
    hu[spine] = 700
    lesions = _lesions(rng, yy, xx, liver, int(rng.integers(1, 3)), (5, 12))
    for blob in lesions:
        hu[blob] = 20
    hu = ndimage.gaussian_filter(hu, 0.8) + rng.normal(0, 8, SHAPE)
    image = np.clip(np.round(hu + 1024), 0, 4095).astype(np.uint16)
    return image, liver | kidneys, lesions


def _mr_slice(rng, yy, xx):
    from scipy import ndimage

    h, w = SHAPE
    head = _ellipse(yy, xx, h / 2, w / 2, h * 0.44, w * 0.40)
    brain = _ellipse(yy, xx, h / 2, w / 2, h * 0.38, w * 0.34)
    white = _ellipse(yy, xx, h / 2, w / 2, h * 0.27, w * 0.23)
    ventricles = _ellipse(yy, xx, h * 0.47, w * 0.45, h * 0.08, w * 0.03) | _ellipse(yy, xx, h * 0.47, w * 0.55, h * 0.08, w * 0.03)
    img = np.zeros(SHAPE)
    img[head] = 70
    img[brain] = 110 + 8 * _texture(rng, SHAPE, 3)[brain]
    img[white] = 150
    img[ventricles] = 35
    lesions = _lesions(rng, yy, xx, brain & ~ventricles, int(rng.integers(1, 4)), (3, 9))
    for blob in lesions:
        img[blob] = 205
    bias = 1 + 0.15 * np.sin(xx / w * np.pi + rng.uniform(0, 3)) * np.cos(yy / h * np.pi)
    img = ndimage.gaussian_filter(img, 0.7) * bias
    img = np.hypot(img + rng.normal(0, 4, SHAPE), rng.normal(0, 4, SHAPE))  # Rician-like
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return image, brain, lesions


def _endo_frame(rng, yy, xx):
    from scipy import ndimage

    h, w = SHAPE
    tissue = _texture(rng, SHAPE, 4) * 0.5 + _texture(rng, SHAPE, 12)
    base = np.stack([175 + 18 * tissue, 85 + 14 * tissue, 75 + 12 * tissue], axis=-1)
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ry, rx = rng.uniform(14, 30, size=2)
    polyp = _ellipse(yy, xx, cy, cx, ry, rx, rng.uniform(0, np.pi))
    dome = np.clip(1 - ((yy - cy) ** 2 / ry**2 + (xx - cx) ** 2 / rx**2), 0, 1)
    base += (np.array([30.0, 35.0, 20.0]) * dome[..., None]) * polyp[..., None]
    vignette = 1 - 0.55 * (((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2) * 2
    img = base * vignette[..., None]
    highlight = _texture(rng, SHAPE, 2) > 2.6
    img[highlight] = 250
    img = ndimage.gaussian_filter(img, (0.6, 0.6, 0)) + rng.normal(0, 2, img.shape)
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return image, np.zeros(SHAPE, bool), [polyp]


_GENERATORS = {"ct12": (_ct_slice, 12, "CT"), "mr8": (_mr_slice, 8, "MR"), "endo": (_endo_frame, 8, "endoscopy")}


def _boxes(lesions: list[np.ndarray]) -> np.ndarray:
    boxes = []
    for blob in lesions:
        ys, xs = np.nonzero(blob)
        if len(ys) >= 4:
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def make_sample(variant: str, index: int, split: str) -> Sample:
    generate, bit_depth, modality = _GENERATORS[variant]
    rng = _rng(variant, index)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]].astype(float)
    image, organ, lesions = generate(rng, yy, xx)
    mask = np.zeros(SHAPE, np.uint8)
    mask[organ] = 1
    for blob in lesions:
        mask[blob] = 2
    boxes = _boxes(lesions)
    return Sample(
        id=f"{variant}-{index:03d}", image=image, bit_depth=bit_depth, modality=modality, split=split,
        mask=mask, boxes=boxes, labels=np.zeros(len(boxes), np.int64),
    )


def open_phantom(path: str | None = None) -> Dataset:
    """Entry point for `--data phantom[:ct12,mr8,endo]`."""
    variants = tuple(v for v in (path or ",".join(VARIANTS)).split(",") if v)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise DatasetError(f"phantom: unknown variant '{unknown[0]}' (choose from {', '.join(VARIANTS)})")
    return stored_or_built(f"phantom-{'-'.join(variants)}", [], [Path(__file__)], ("scipy",), lambda: _build(variants))


def _build(variants: tuple[str, ...]) -> Dataset:
    samples = []
    for variant in variants:
        index = 0
        for split, count in SPLIT_SIZES.items():
            for _ in range(count):
                samples.append(make_sample(variant, index, split))
                index += 1
    return Dataset(
        name="phantom", samples=samples, seg_classes=SEG_CLASSES, det_classes=DET_CLASSES,
        description="synthetic CT 12-bit, MR 8-bit and RGB endoscopy slices with organ/lesion masks and lesion boxes",
        source=f"generated ({','.join(variants)})",
    )
