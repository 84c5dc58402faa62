"""`colin27-aal`: real T1 MRI (Colin27) with the hand-drawn AAL atlas of the same brain.

Both volumes ship in Debian's `mricron-data` (`/usr/share/mricron/templates`: `ch2.nii.gz`
T1 181×217×181 at 1 mm, `aal.nii.gz` + `aal.nii.txt` labels on the same grid, `ch2bet.nii.gz`
the brain-extracted T1). Axial slices keep their native 217×181 size and 8-bit values.

Segmentation classes group the 116 AAL regions by the first digit of their AAL code, which is
the atlas' own lobe coding (2 frontal, 3 insula, 4 limbic, 5 occipital, 6 parietal,
7 subcortical grey, 8 temporal, 9 cerebellum); insula joins limbic as in the AAL paper's
"limbic lobe" grouping of the cingulate/parahippocampal/insular cortex. Brain voxels of the
brain-extracted T1 that AAL leaves unlabelled (white matter, ventricles) are `other_brain`.

Detection boxes: 42 classes, 21 AAL structures left and right, each the bounding box of the
structure's largest 4-connected piece on the slice, kept when that piece has at least
MIN_BOX_PIXELS pixels. The structures are the deep grey nuclei (caudate, putamen, pallidum,
thalamus), the limbic ring (hippocampus, amygdala, parahippocampal gyrus, insula, anterior /
middle / posterior cingulum), the medial occipital cortex (calcarine, cuneus, lingual, fusiform)
and medial frontal / parietal regions (gyrus rectus, olfactory, supplementary motor area,
paracentral lobule, precuneus), plus Heschl's gyrus: compact regions bounded by sulci, ventricles
or the midline. The lateral convexity gyri, which merge into one another without a visible edge,
are left out. Why 42 and not the 12 deep structures alone: those sit on 55 of the 144 slices
(318 boxes in all), so a test split of a few slices held ~40 boxes and mAP moved ±0.05 between
neighbouring rate points. The 42 classes give ~230 test boxes on 24 slices.

Split: one brain, so neighbouring slices are near copies. Axial slices with at least
MIN_LABELLED_PIXELS AAL pixels are cut into repeating slabs of 23 slices: 11 train, 2 gap,
4 test, 2 gap, 2 val, 2 gap (SLAB, started SLAB_OFFSET slices into the cycle so that every
detection class has boxes in every split). Every test and every val slice is at least 3 mm
from any training slice, and val is 3 mm from test; gap slices are used by nothing. That gives
70 train, 12 val and 24 test slices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.store import stored_or_built
from bench.errors import DatasetError

DEFAULT_DIR = Path("/usr/share/mricron/templates")
FILES = {"t1": "ch2.nii.gz", "labels": "aal.nii.gz", "names": "aal.nii.txt", "brain": "ch2bet.nii.gz"}
SEG_CLASSES = ["background", "other_brain", "frontal", "insula_limbic", "occipital", "parietal",
               "subcortical_grey", "temporal", "cerebellum"]
_LOBE_OF_CODE_DIGIT = {2: "frontal", 3: "insula_limbic", 4: "insula_limbic", 5: "occipital", 6: "parietal",
                       7: "subcortical_grey", 8: "temporal", 9: "cerebellum"}
DET_STRUCTURES = ["Caudate", "Putamen", "Pallidum", "Thalamus", "Hippocampus", "Amygdala",
                  "ParaHippocampal", "Insula", "Cingulum_Ant", "Cingulum_Mid", "Cingulum_Post",
                  "Calcarine", "Cuneus", "Lingual", "Fusiform", "Rectus", "Olfactory", "Supp_Motor_Area",
                  "Paracentral_Lobule", "Precuneus", "Heschl"]
DET_CLASSES = [f"{s}_{side}" for s in DET_STRUCTURES for side in ("L", "R")]
MIN_LABELLED_PIXELS = 500
MIN_BOX_PIXELS = 12
SLAB = ("train",) * 11 + ("gap",) * 2 + ("test",) * 4 + ("gap",) * 2 + ("val",) * 2 + ("gap",) * 2
SLAB_OFFSET = 21


def _read_names(path: Path) -> dict[int, tuple[str, int]]:
    """AAL index -> (region name, AAL code) from aal.nii.txt lines 'index name code'."""
    names = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            names[int(parts[0])] = (parts[1], int(parts[2]))
    if not names:
        raise DatasetError(f"colin27-aal: no regions read from {path}")
    return names


def _load_volume(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        return np.asarray(nib.load(str(path)).dataobj)
    except Exception as exc:
        raise DatasetError(f"colin27-aal: cannot read {path}: {exc}".splitlines()[0]) from exc


def _axial(volume: np.ndarray, z: int) -> np.ndarray:
    """RAS volume -> axial slice with anterior at the top: rows = y (217), columns = x (181)."""
    return np.flipud(volume[:, :, z].T)


def _lookup_tables(names: dict[int, tuple[str, int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    lobe = np.zeros(size, np.uint8)
    structure = np.full(size, -1, np.int64)
    for index, (name, code) in names.items():
        lobe[index] = SEG_CLASSES.index(_LOBE_OF_CODE_DIGIT[code // 1000])
        base, _, side = name.rpartition("_")
        if base in DET_STRUCTURES:
            structure[index] = DET_CLASSES.index(f"{base}_{side}")
    return lobe, structure


def _boxes(structure_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per structure, the box of its largest connected piece (pieces under MIN_BOX_PIXELS dropped).
    Each structure is labelled within its own bounding region only: the same boxes, found fast."""
    from scipy import ndimage  # only when the slices are built, not when they come from the store

    boxes, labels = [], []
    regions = ndimage.find_objects(structure_map + 1)  # class c is value c + 1, found at index c
    for class_id in np.unique(structure_map[structure_map >= 0]):
        rows, cols = regions[class_id]
        pieces, n = ndimage.label(structure_map[rows, cols] == class_id)
        sizes = ndimage.sum_labels(np.ones_like(pieces), pieces, index=np.arange(1, n + 1))
        largest = int(np.argmax(sizes)) + 1
        if sizes[largest - 1] < MIN_BOX_PIXELS:
            continue
        ys, xs = np.nonzero(pieces == largest)
        boxes.append([xs.min() + cols.start, ys.min() + rows.start, xs.max() + 1 + cols.start, ys.max() + 1 + rows.start])
        labels.append(int(class_id))
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)


def slab_splits(slices: list[int]) -> dict[int, str]:
    """Slice index -> split (or 'gap') by position within consecutive slabs."""
    return {z: SLAB[(i + SLAB_OFFSET) % len(SLAB)] for i, z in enumerate(slices)}


def open_colin27(path: str | None = None) -> Dataset:
    folder = Path(path) if path else DEFAULT_DIR
    missing = [folder / f for f in FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"colin27-aal: {missing[0]} not found; install it with `apt-get install mricron-data`, "
            f"or give a folder holding {', '.join(FILES.values())} as --data colin27-aal:/path/to/templates, "
            "or use --data phantom"
        )
    sources = [folder / f for f in FILES.values()]
    return stored_or_built("colin27-aal", sources, [Path(__file__)], ("nibabel",), lambda: _build(folder))


def _build(folder: Path) -> Dataset:
    """Decode the volumes and cut, label and box the slices (`open_colin27` keeps the result)."""
    t1 = _load_volume(folder / FILES["t1"])
    labels = _load_volume(folder / FILES["labels"]).astype(np.int64)
    brain = _load_volume(folder / FILES["brain"]) > 0
    if not (t1.shape == labels.shape == brain.shape):
        raise DatasetError(f"colin27-aal: {FILES['t1']} {t1.shape} and {FILES['labels']} {labels.shape} differ in shape")
    names = _read_names(folder / FILES["names"])
    if labels.max() >= 256 or labels.min() < 0 or not set(np.flatnonzero(np.bincount(labels.ravel()))) - {0} <= set(names):
        raise DatasetError(f"colin27-aal: {folder / FILES['labels']} holds labels missing from {FILES['names']}")
    lobe_of, structure_of = _lookup_tables(names, 256)
    image_volume = np.clip(t1, 0, 255).astype(np.uint8)
    counts = (labels > 0).sum(axis=(0, 1))
    usable = [int(z) for z in np.nonzero(counts >= MIN_LABELLED_PIXELS)[0]]
    samples = []
    for z, split in slab_splits(usable).items():
        if split == "gap":
            continue
        label_slice = _axial(labels, z)
        mask = lobe_of[label_slice]
        mask[(mask == 0) & _axial(brain, z)] = SEG_CLASSES.index("other_brain")
        boxes, box_labels = _boxes(structure_of[label_slice])
        samples.append(Sample(id=f"z{z:03d}", image=np.ascontiguousarray(_axial(image_volume, z)), bit_depth=8,
                              modality="MR", split=split, mask=np.ascontiguousarray(mask), boxes=boxes, labels=box_labels))
    return Dataset(
        name="colin27-aal", samples=samples, seg_classes=SEG_CLASSES, det_classes=DET_CLASSES,
        description="Colin27 T1 MRI axial slices, AAL lobes (seg) and 42 deep and medial structures (det), slab split with 3 mm gaps",
        source=str(folder), extra={"slices": {s.id: s.split for s in samples},
                                   "slice_mm": {s.id: float(s.id[1:]) for s in samples}},
    )
