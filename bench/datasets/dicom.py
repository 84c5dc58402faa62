"""`dicom`: a folder of DICOM files (one series or several) → slices with stored 8/10/12/16-bit values.

    --data dicom:/p/study[,window=-160:240|file,seg=/p/seg.dcm,gap=2,split=...]

Every file under the folder whose 128-byte preamble is followed by `DICM`, or that ends in `.dcm`, is read
with pydicom (a `.dcm` that fails to parse is an error naming it). Image files are grouped by
SeriesInstanceUID and ordered by ImagePositionPatient along the slice normal (else InstanceNumber);
multi-frame files give one sample per frame.

Series: one dataset holds series of one modality and one image size. A folder that mixes them (a CT
and an MR, a scout next to the axial series) is refused with a one-line list of its series; pick with
`series=UID` or `series=CT` (several: `series=UID1+UID2`). A series whose files differ in size is refused.

Values: RescaleSlope/RescaleIntercept are applied; the rescaled values are kept (no windowing unless
asked) and stored as unsigned integers: shifted by +1024 when the minimum is in [-1024, 0) (CT HU:
stored = HU + 1024, as in the phantom), by -min when it is lower still, unshifted when ≥ 0; the bit
depth is the smallest of 10/12/16 that holds the shifted maximum of the data (8-bit sources stay
uint8). BitsStored is not trusted when larger (most CT is written as BitsStored 16 with values below
4096: peak 65535 would add 24 dB to every PSNR and defeat every dB target); that gives a warning, and
`bit_depth=16` keeps the declared depth. `window=LO:HI` maps [LO, HI] to 12-bit 0..4095 instead;
`window=file` uses the first image's WindowCenter/WindowWidth. MONOCHROME1 images are inverted so that bright = high.
RGB/YBR images (endoscopy, photos) are kept 8-bit RGB. `extra["intensity"]` records the mapping.

Labels, if any:
- DICOM-SEG files (Modality SEG) in the folder or `seg=PATH`: each frame's ReferencedSegmentNumber
  is painted onto the image named by its DerivationImageSequence ReferencedSOPInstanceUID (else the one
  at its ImagePositionPatient); classes are the SegmentLabels by SegmentNumber; images with no SEG
  frame are all background.
- or `masks/` PNGs named like the DICOM file (stem) or its SOPInstanceUID, with the same rules as
  `folder` masks and an optional `classes.json`; every image needs one.

Options: window=LO:HI|file, seg=PATH, masks=DIR, gap=N (default 2), slabs=N, split=slab|series|train|val|test
(default: contiguous 70/10/20 slabs for one series, a hash of SeriesInstanceUID for several),
classes=a+b (mask names for ids 1, 2, ...), modality=NAME (default: the files' Modality),
series=UID|MODALITY[+...] (which series to read), bit_depth=8|10|12|16 (instead of the inferred depth).
Every file read is validated, including frames that fall in the gaps between slabs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.datasets.base import Dataset, Sample
from bench.datasets.imageio import (IMAGE_EXTS, load_class_file, map_mask, opt_bit_depth, opt_classes, opt_int,
                                    opt_split, opt_window, read_mask, reading, hash_split, slab_splits, split_options)
from bench.datasets.intensity import plan_intensity
from bench.datasets.validate import Origin, build_dataset
from bench.errors import DatasetError

USAGE = "dicom:/path/to/dicom_folder"
OPTIONS = {"window": "LO:HI or file", "seg": "DICOM-SEG file", "masks": "PNG mask folder", "gap": "slices",
           "slabs": "count", "split": "slab|series|train|val|test", "classes": "a+b", "modality": "name",
           "series": "UID or modality, + for several", "bit_depth": "8|10|12|16"}
COLOR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "PALETTE COLOR")


@dataclass
class Frame:
    path: Path
    ds: object
    index: int | None  # frame number in a multi-frame file
    raw: np.ndarray
    series: str
    sop: str
    position: tuple | None
    order: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def sid(self) -> str:
        return self.path.stem if self.index is None else f"{self.path.stem}-f{self.index:03d}"


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() == ".dcm":
        return True
    if path.suffix.lower() in IMAGE_EXTS + (".json", ".txt", ".yaml", ".md", ".csv"):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _read(path: Path):
    import pydicom

    with reading(path):
        return pydicom.dcmread(str(path))


def _sop_class_name(ds) -> str:
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return str(getattr(uid, "name", "")) if uid is not None else ""


def _pixels(ds, path: Path) -> np.ndarray:
    from bench.datasets.imageio import MAX_PIXELS

    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if rows * columns * max(frames, 1) > MAX_PIXELS:  # before pydicom allocates Rows×Columns×frames
        raise DatasetError(f"{path}: Rows×Columns×frames is {rows}×{columns}×{frames} ({rows * columns * frames / 1e6:.0f} Mpx), "
                           f"more than the {MAX_PIXELS / 1e6:.0f} Mpx this harness reads")
    with reading(path, "decode pixels of"):
        return np.asarray(ds.pixel_array)


def _position(ds) -> tuple | None:
    pos = ds.get("ImagePositionPatient")
    return tuple(round(float(v), 3) for v in pos) if pos is not None and len(pos) == 3 else None


def _order(ds, position) -> float:
    orient = ds.get("ImageOrientationPatient")
    if position is not None and orient is not None and len(orient) == 6:
        row, col = np.asarray(orient[:3], float), np.asarray(orient[3:], float)
        return float(np.dot(np.cross(row, col), position))
    return float(ds.get("InstanceNumber") or 0)


def _frames(path: Path, ds) -> list[Frame]:
    pixels = _pixels(ds, path)
    n = int(ds.get("NumberOfFrames") or 1)
    if n == 1:
        stack = [pixels]
    else:
        stack = list(pixels)
    position = _position(ds)
    out = []
    for i, raw in enumerate(stack):
        f = Frame(path, ds, None if n == 1 else i, raw, str(ds.get("SeriesInstanceUID", "")),
                  str(ds.get("SOPInstanceUID", "")), position)
        f.order = _order(ds, position) + i * 1e-3
        out.append(f)
    return out


def _seg_masks(seg_path: Path, seg, frames: list[Frame]) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """Masks keyed by sample id, and segment number → label, from one DICOM-SEG."""
    segments = {}
    for item in seg.get("SegmentSequence", []):
        segments[int(item.SegmentNumber)] = str(item.get("SegmentLabel", f"segment{int(item.SegmentNumber)}"))
    if not segments:
        raise DatasetError(f"{seg_path}: DICOM-SEG without a SegmentSequence")
    pixels = _pixels(seg, seg_path)
    per_frame = seg.get("PerFrameFunctionalGroupsSequence")
    if pixels.ndim == 2:
        pixels = pixels[None]
    if per_frame is None or len(per_frame) != len(pixels):
        raise DatasetError(f"{seg_path}: {len(pixels)} frames but {len(per_frame or [])} PerFrameFunctionalGroups items")
    threshold = 0
    if str(seg.get("SegmentationType", "BINARY")) == "FRACTIONAL":
        threshold = float(seg.get("MaximumFractionalValue", 255)) / 2
    by_sop = {f.sop: f for f in frames if f.index is None}
    by_pos = {f.position: f for f in frames if f.position is not None and f.index is None}
    masks: dict[str, np.ndarray] = {}
    for i, (item, frame) in enumerate(zip(per_frame, pixels)):
        try:
            number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        except (AttributeError, IndexError):
            raise DatasetError(f"{seg_path}: frame {i} has no SegmentIdentificationSequence") from None
        if number not in segments:
            raise DatasetError(f"{seg_path}: frame {i} refers to segment {number}, not in SegmentSequence")
        target = None
        try:
            sop = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
            target = by_sop.get(sop)
        except (AttributeError, IndexError):
            pass
        if target is None:
            try:
                pos = tuple(round(float(v), 3) for v in item.PlanePositionSequence[0].ImagePositionPatient)
                target = by_pos.get(pos)
            except (AttributeError, IndexError):
                pass
        if target is None:
            raise DatasetError(f"{seg_path}: frame {i} refers to no image in the folder (by SOPInstanceUID or position)")
        if frame.shape != target.raw.shape[:2]:
            raise DatasetError(f"{seg_path}: frame {i} is {frame.shape[1]}×{frame.shape[0]} but {target.path} is "
                               f"{target.raw.shape[1]}×{target.raw.shape[0]}")
        mask = masks.setdefault(target.sid, np.zeros(frame.shape, np.uint8))
        mask[frame > threshold] = number
    return masks, segments


def _modality(frame: Frame) -> str:
    return str(frame.ds.get("Modality", "") or "?")


def _size(frame: Frame) -> str:
    return f"{frame.raw.shape[1]}×{frame.raw.shape[0]}" + ("×3" if frame.raw.ndim == 3 else "")


def _series_line(uid: str, members: list[Frame]) -> str:
    return f"{uid or '(no SeriesInstanceUID)'} ({_modality(members[0])}, {len(members)} images {_size(members[0])})"


def _listing(series: dict[str, list[Frame]], most: int = 4) -> str:
    lines = [_series_line(uid, members) for uid, members in series.items()]
    more = f" and {len(lines) - most} more" if len(lines) > most else ""
    return "; ".join(lines[:most]) + more


def _select_series(frames: list[Frame], wanted: str | None, root: Path) -> dict[str, list[Frame]]:
    """Frames grouped by SeriesInstanceUID, narrowed to `series=` (UIDs or modalities); refuses a
    series that mixes image sizes, and several series that differ in modality or size."""
    series: dict[str, list[Frame]] = {}
    for f in frames:
        series.setdefault(f.series, []).append(f)
    for uid, members in series.items():
        sizes: dict[str, list[Frame]] = {}
        for f in members:
            sizes.setdefault(_size(f), []).append(f)
        if len(sizes) > 1:
            (common, _), (odd, odd_frames) = sorted(sizes.items(), key=lambda kv: -len(kv[1]))[:2]
            raise DatasetError(f"dicom: series {uid or '(no SeriesInstanceUID)'} in {root} mixes image sizes: "
                               f"{len(sizes[common])} images are {common} but {odd_frames[0].path} is {odd}; "
                               f"move the odd files out of the folder")
    if wanted:
        chosen: dict[str, list[Frame]] = {}
        for key in (k.strip() for k in wanted.split("+") if k.strip()):
            hits = {uid: m for uid, m in series.items() if uid == key or _modality(m[0]).upper() == key.upper()}
            if not hits:
                raise DatasetError(f"dicom: series={key} matches no series in {root} (has {_listing(series)})")
            chosen.update(hits)
        series = {uid: m for uid, m in series.items() if uid in chosen}
    modalities = {_modality(m[0]) for m in series.values()}
    sizes = {_size(m[0]) for m in series.values()}
    if len(modalities) > 1 or len(sizes) > 1:
        differ = " and ".join(w for w, n in (("modality", len(modalities)), ("image size", len(sizes))) if n > 1)
        hint = f"series={sorted(modalities)[0]} or " if len(modalities) > 1 else ""
        raise DatasetError(f"dicom: {root} holds {len(series)} series that differ in {differ}: {_listing(series)}; "
                           f"read one with {hint}series=UID")
    return series


def open_dicom(path: str | None = None) -> Dataset:
    """Entry point for `--data dicom:/folder[,window=LO:HI|file,seg=..,masks=..,gap=N,split=..]`."""
    raw_path, options = split_options(path, OPTIONS, "dicom", USAGE)
    root = Path(raw_path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"dicom: {root} is not a directory (--data {USAGE})")
    window = opt_window(options, "dicom", allow_file=True)
    gap = opt_int(options, "gap", 2, "dicom")
    slabs = opt_int(options, "slabs", 1, "dicom")
    split_mode = opt_split(options, "dicom", extra=("slab", "series"))
    bit_depth = opt_bit_depth(options, "dicom")
    mask_dir = Path(options["masks"]).expanduser() if options.get("masks") else root / "masks"
    seg_paths = [Path(options["seg"]).expanduser()] if options.get("seg") else []
    for p in seg_paths:
        if not p.is_file():
            raise DatasetError(f"dicom: DICOM-SEG file {p} does not exist")

    frames: list[Frame] = []
    segs = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith(".") or mask_dir in p.parents or not _is_dicom(p):
            continue
        if p in seg_paths:
            continue
        ds = _read(p)
        modality = str(ds.get("Modality", ""))
        if modality == "SEG":
            segs.append((p, ds))
        elif "PixelData" in ds or "FloatPixelData" in ds:
            frames += _frames(p, ds)
        elif "Rows" in ds or "Modality" not in ds or "Image Storage" in _sop_class_name(ds):
            raise DatasetError(f"cannot read {p}: no pixel data and no Modality/Rows past byte "
                               f"{p.stat().st_size} (truncated file?)")
        # else: a non-image object (SR, RTSTRUCT, ...) that has no pixels: skipped
    segs += [(p, _read(p)) for p in seg_paths]
    if not frames:
        raise DatasetError(f"dicom: no DICOM images in {root}")

    series = _select_series(frames, options.get("series"), root)

    # Splits: order within each series, then slabs (one series) or a series hash (several).
    split_mode = split_mode or ("slab" if len(series) == 1 else "series")
    split_of: dict[int, str | None] = {}
    for uid, members in series.items():
        members.sort(key=lambda f: (f.order, f.path.name))
        if split_mode == "slab":
            per = slab_splits(len(members), gap, slabs)
        else:
            fixed = hash_split(uid or members[0].path.parent.name) if split_mode == "series" else split_mode
            per = [fixed] * len(members)
        for f, s in zip(members, per):
            split_of[id(f)] = s
    ordered = [f for members in series.values() for f in members]

    # Intensity mapping over all gray frames.
    gray = [f for f in ordered if str(f.ds.get("PhotometricInterpretation", "MONOCHROME2")) not in COLOR]
    intensity = None
    if gray:
        vmin, vmax, integer, bits = np.inf, -np.inf, True, 0
        for f in gray:
            slope, intercept = float(f.ds.get("RescaleSlope", 1) or 1), float(f.ds.get("RescaleIntercept", 0) or 0)
            f.extra["rescale"] = (slope, intercept)
            lo, hi = float(f.raw.min()) * slope + intercept, float(f.raw.max()) * slope + intercept
            vmin, vmax = min(vmin, lo, hi), max(vmax, lo, hi)
            integer = integer and slope == int(slope) and intercept == int(intercept) and np.issubdtype(f.raw.dtype, np.integer)
            bits = max(bits, int(f.ds.get("BitsStored", 16)))
        if window == "file":
            ds = gray[0].ds
            try:
                center, width = ds.WindowCenter, ds.WindowWidth
                center = float(center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center)
                width = float(width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width)
            except AttributeError:
                raise DatasetError(f"{gray[0].path}: window=file but the file has no WindowCenter/WindowWidth") from None
            window = (center - width / 2, center + width / 2)
        intensity = plan_intensity(vmin, vmax, integer, window, bits_stored=bits, source=f"dicom {root}",
                                   bit_depth=bit_depth)

    # Labels.
    masks: dict[str, np.ndarray] = {}
    seg_classes = None
    origins_mask: dict[str, str] = {}
    if segs:
        segments_all: dict[int, str] = {}
        for seg_path, seg in segs:
            found, segments = _seg_masks(seg_path, seg, frames)  # all frames: a SEG may cover unselected series
            for number, label in segments.items():
                if segments_all.get(number, label) != label:
                    raise DatasetError(f"{seg_path}: segment {number} is '{label}' here but '{segments_all[number]}' in another SEG")
                segments_all[number] = label
            for sid, m in found.items():
                if sid in masks:
                    np.copyto(masks[sid], m, where=m > 0)
                else:
                    masks[sid] = m
                origins_mask[sid] = str(seg_path)
        seg_classes = ["background"] + [segments_all.get(i, f"segment{i}") for i in range(1, max(segments_all) + 1)]
        for f in ordered:
            if f.sid not in masks:
                masks[f.sid] = np.zeros(f.raw.shape[:2], np.uint8)
                origins_mask[f.sid] = str(segs[0][0])
    elif mask_dir.is_dir():
        classes = load_class_file(root / "classes.json")
        files = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() in IMAGE_EXTS}
        for f in ordered:
            mask_path = files.get(f.sid) or files.get(f.sop if f.index is None else f"{f.sop}-f{f.index:03d}")
            if mask_path is None:
                raise DatasetError(f"dicom: no mask for {f.path} in {mask_dir} (expected {f.sid}.png or {f.sop}.png)")
            masks[f.sid] = map_mask(read_mask(mask_path), classes, mask_path)
            origins_mask[f.sid] = str(mask_path)
        seg_classes = opt_classes(options) or classes.names
        if seg_classes is None:
            top = max(int(m.max()) for m in masks.values())
            seg_classes = ["background", "foreground"] if top <= 1 else ["background"] + [f"class{i}" for i in range(1, top + 1)]

    samples, origins, dropped = [], {}, []
    for f in ordered:
        split = split_of[id(f)]
        photometric = str(f.ds.get("PhotometricInterpretation", "MONOCHROME2"))
        if photometric in COLOR:
            image = f.raw.astype(np.uint8) if f.raw.dtype != np.uint8 and f.raw.max() <= 255 else f.raw
            depth = 8 if image.dtype == np.uint8 else 16
        else:
            slope, intercept = f.extra["rescale"]
            values = f.raw.astype(np.float64) * slope + intercept
            image = intensity.apply(values)
            depth = intensity.bit_depth
            if photometric == "MONOCHROME1":
                image = (2**depth - 1 - image.astype(np.int64)).astype(image.dtype)
        if f.sid in origins:
            raise DatasetError(f"dicom: {f.path} has the same name as {origins[f.sid].image}")
        origins[f.sid] = Origin(str(f.path), origins_mask.get(f.sid))
        sample = Sample(id=f.sid, image=image, bit_depth=depth, split=split or "test", mask=masks.get(f.sid),
                        modality=options.get("modality") or str(f.ds.get("Modality", "unknown") or "unknown"))
        (samples if split else dropped).append(sample)  # dropped: in a gap between slabs, validated all the same
    return build_dataset(
        "dicom", samples, origins, seg_classes=seg_classes,
        description=f"{len(samples)} images from {len(series)} DICOM series in {root}"
                    + (f"; {intensity.describe()}" if intensity else ""),
        source=str(root.resolve()),
        extra={"intensity": intensity.as_dict() if intensity else None, "split_mode": split_mode, "gap": gap,
               "series": list(series)},
        dropped=dropped,
    )
