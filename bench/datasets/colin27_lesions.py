"""`colin27-lesions`: simulated focal lesions in real Colin27 anatomy, for the tasks that notice
what compression destroys first (small, low-contrast findings; `lesions.py` has the lesion model).

The slices, split and gaps are colin27-aal's (70 train, 12 val, 24 test slices, 3 mm apart
between splits). Each slice carries several *layouts*: independent draws of 0 to `MAX_LESIONS`
lesions (none with probability `P_NONE`, so lesion-free images exist for false positives),
fixed by seed per split, slice and layout: `LAYOUTS` per split. The test split holds about
1,100 lesions on 288 images. Lesions go only into brain tissue brighter than half the brain's
median (not into the ventricles, which are dark on T1).

Labels: a background/lesion mask (seg), one box per lesion of class `lesion` (det). Every
lesion's diameter, signed contrast, amplitude in grey levels and contrast-to-noise ratio are in
`dataset.extra["lesions"][image_id]`, in the order of the image's boxes, so results can be broken
down by size and contrast. The fingerprint is the pixels' (it changes with the generator's
version or seeds); the generator version is in `extra` too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.store import stored_or_built

SEED = 20261206
LAYOUTS = {"train": 20, "val": 6, "test": 12}
MAX_LESIONS = 8
P_NONE = 0.1
SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
# Default rate ladders on this dataset (`bench run` without --quality): from each codec's lowest
# reachable rate (a 217×181 slice's container headers alone are 0.03-0.25 bpp: JPEG cannot go
# under ~0.26, JPEG 2000 ~0.035) to ~1.5-2 bpp, past where the lesion figures stop moving; the
# everyday ladders stop at ~0.6-1 bpp, where a faint 2 mm lesion is still losing contrast.
# Measured on colin27-lesions test (one layout per slice): bpp at each end in the comments.
QUALITIES = {
    "jpeg": [5, 10, 20, 35, 50, 70, 85, 95],  # 0.26-2.2
    "jpeg2000": [17, 22, 26, 30, 34, 38, 42, 46, 50],  # 0.037-1.65
    "htj2k": [1.0, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125],  # 0.062-1.5
    "bpg": [51, 47, 42, 37, 32, 27, 22, 17],  # 0.067-~1.5
    "vvc": [53, 47, 41, 35, 29, 23, 17],  # 0.075-1.67
    "webp": [0, 10, 30, 50, 75, 90, 95],  # 0.12-1.4
    "avif": [0, 10, 25, 40, 55, 70, 85, 95],  # 0.10-1.9
    "jpegxl": [25, 15, 8, 4, 2, 1, 0.5],  # 0.17-1.9
    "jpegls": [64, 32, 16, 8, 4, 2, 1],  # 0.31-1.85
}
SEG_CLASSES = ["background", "lesion"]
DET_CLASSES = ["lesion"]


def tissue_mask(sample: Sample) -> np.ndarray:
    """Brain tissue a lesion may sit in: labelled brain, brighter than half the brain's median."""
    brain = sample.mask > 0
    return brain & (sample.image >= 0.5 * np.median(sample.image[brain]))


def slice_context(base: Sample) -> dict:
    """What every layout of one slice shares: its tissue mask, distances and noise (computed once)."""
    from bench.datasets.lesions import noise_sigma, tissue_distance

    tissue = tissue_mask(base)
    return {"tissue": tissue, "distance": tissue_distance(tissue), "sigma": noise_sigma(base.image, tissue)}


def layout(base: Sample, split: str, index: int, rng: np.random.Generator, context: dict | None = None) -> tuple[Sample, list[dict]]:
    """One hybrid image of `base` (a colin27-aal slice) and its lesion records."""
    from bench.datasets.lesions import insert, place

    context = context or slice_context(base)
    count = 0 if rng.random() < P_NONE else int(rng.integers(1, MAX_LESIONS + 1))
    lesions = place(rng, context["tissue"], count, distance=context["distance"])
    image, mask, boxes = insert(base.image, context["tissue"], lesions, base.bit_depth, sigma=context["sigma"])
    sample = Sample(id=f"{base.id}-l{index:02d}", image=image, bit_depth=base.bit_depth, modality=base.modality, split=split,
                    mask=mask, boxes=boxes, labels=np.zeros(len(boxes), np.int64))
    return sample, [lesion.record() for lesion in lesions]


def fresh_sampler(dataset: Dataset):
    """For training: a function rng -> one new hybrid train image (a random train slice of the base
    colin27-aal data, lesions drawn afresh), so a network never sees the same lesion twice. The
    fixed train layouts remain for class statistics and for trainers that read files (det)."""
    from bench.datasets import colin27

    base = colin27.open_colin27(dataset.extra.get("path")).split("train")
    contexts = [slice_context(s) for s in base]

    def draw(rng: np.random.Generator) -> Sample:
        k = int(rng.integers(len(base)))
        return layout(base[k], "train", 99, rng, contexts[k])[0]
    return draw


def open_colin27_lesions(path: str | None = None) -> Dataset:
    from bench.datasets import colin27

    base = colin27.open_colin27(path)  # the same files, checks and errors as colin27-aal
    folder = Path(path) if path else colin27.DEFAULT_DIR
    sources = [folder / f for f in colin27.FILES.values()]
    code = [Path(__file__), Path(__file__).with_name("lesions.py"), Path(colin27.__file__)]
    return stored_or_built("colin27-lesions", sources, code, ("nibabel", "scipy"), lambda: _build(base, path))


def _build(base: Dataset, path: str | None = None) -> Dataset:
    from bench.datasets.lesions import GENERATOR_VERSION

    samples, records = [], {}
    for split in ("train", "val", "test"):
        for s in base.split(split):
            z, context = int(s.id[1:]), slice_context(s)
            for index in range(LAYOUTS[split]):
                rng = np.random.default_rng([SEED, SPLIT_CODE[split], z, index])
                sample, lesions = layout(s, split, index, rng, context)
                samples.append(sample)
                records[sample.id] = lesions
    return Dataset(
        name="colin27-lesions", samples=samples, seg_classes=SEG_CLASSES, det_classes=DET_CLASSES,
        description="Colin27 T1 axial slices with simulated focal lesions (2-12 mm, 3-30% contrast, both polarities), "
                    "colin27-aal's slab split",
        source=base.source,
        extra={"lesions": records, "generator_version": GENERATOR_VERSION, "seed": SEED, "layouts": LAYOUTS,
               "slice_mm": {s.id: float(s.id[1:4]) for s in samples}, "qualities": QUALITIES,
               "fresh_train": "bench.datasets.colin27_lesions:fresh_sampler", "path": path},
    )
