"""Small reader helpers shared by the file-based loaders (folder, yolo, coco, nifti, dicom).

- `split_options`: the `PATH[,key=value...]` option syntax every loader accepts after `NAME:`.
- `reading`: turns any exception from PIL/imagecodecs/nibabel/pydicom into a one-line
  `DatasetError` that names the file.
- `read_image` / `read_mask`: 2-D images as stored (uint8 or uint16; RGB kept RGB, gray kept gray,
  RGBA → RGB, palette → RGB) and integer masks (palette PNG masks keep their indices;
  JPEG masks are thresholded at 128 because JPEG ringing makes their values useless).
- `load_class_file`, `map_mask`: the `classes.json` class map.
- `hash_split`, `slab_splits`: deterministic splits.
- `data_warning`: a one-line `DataWarning` (the CLI prints it as `warning: ...`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.datasets.base import SPLITS
from bench.errors import BenchError, DataWarning, DatasetError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
JPEG_EXTS = (".jpg", ".jpeg")
BIT_DEPTHS = (8, 10, 12, 16)
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


# ---------------------------------------------------------------- options

def split_options(path: str | None, known: dict[str, str], loader: str, usage: str) -> tuple[str, dict[str, str]]:
    """`/p/x,key=value,key2=value2` → ("/p/x", {...}).

    Tokens without `=` are glued back onto the path (paths may contain commas); an unknown key is
    an error that lists the known ones. `known` maps option name → one-line help.
    """
    if not path:
        raise DatasetError(f"{loader}: needs a path: --data {usage}")
    parts: list[str] = []
    options: dict[str, str] = {}
    for token in path.split(","):
        key, eq, value = token.partition("=")
        if eq and not parts:
            raise DatasetError(f"{loader}: '{path}' starts with an option; expected --data {usage}")
        if eq and "/" not in key and "\\" not in key:
            key = key.strip()
            if key not in known:
                raise DatasetError(f"{loader}: unknown option '{key}' in '{path}' (known: {', '.join(known)})")
            options[key] = value.strip()
        elif options:
            raise DatasetError(f"{loader}: '{token}' after the options in '{path}': write options as key=value")
        else:
            parts.append(token)
    return ",".join(parts), options


def opt_int(options: dict, key: str, default: int | None, loader: str, choices=None) -> int | None:
    if key not in options:
        return default
    try:
        value = int(options[key])
    except ValueError:
        raise DatasetError(f"{loader}: option {key}={options[key]!r} is not an integer") from None
    if choices is not None and value not in choices:
        raise DatasetError(f"{loader}: option {key}={value} (choose from {', '.join(map(str, choices))})")
    return value


def opt_bool(options: dict, key: str, default: bool, loader: str) -> bool:
    if key not in options:
        return default
    value = options[key].lower()
    if value in ("1", "true", "yes", "on", ""):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise DatasetError(f"{loader}: option {key}={options[key]!r}: expected 1/0, true/false or yes/no")


def opt_window(options: dict, loader: str, allow_file: bool = False) -> tuple[float, float] | str | None:
    """`window=LO:HI` (e.g. -160:240 for abdomen CT) or, for DICOM, `window=file`."""
    raw = options.get("window")
    if raw is None or raw == "":
        return None
    if allow_file and raw == "file":
        return "file"
    lo, sep, hi = raw.partition(":")
    try:
        window = (float(lo), float(hi))
    except ValueError:
        window = None
    if not sep or window is None or not window[1] > window[0]:
        hint = " or window=file" if allow_file else ""
        raise DatasetError(f"{loader}: option window={raw!r}: expected window=LO:HI with LO < HI (e.g. -160:240){hint}")
    return window


def opt_bit_depth(options: dict, loader: str) -> int | None:
    """`bit_depth=8|10|12|16`: the declared bit depth, overriding what the loader infers from the data."""
    return opt_int(options, "bit_depth", None, loader, BIT_DEPTHS)


def data_warning(message: str) -> None:
    """Data that loads but may mislead: a one-line `DataWarning` the CLI prints as `warning: ...`."""
    warnings.warn(message, DataWarning, stacklevel=3)


def opt_split(options: dict, loader: str, extra: tuple[str, ...] = ("hash",)) -> str | None:
    value = options.get("split")
    if value is None:
        return None
    if value not in SPLITS + extra:
        raise DatasetError(f"{loader}: option split={value!r} (choose from {', '.join(SPLITS + extra)})")
    return value


def opt_classes(options: dict) -> list[str] | None:
    """`classes=liver+tumor`: foreground names for class ids 1, 2, ...; background is implicit."""
    raw = options.get("classes")
    if not raw:
        return None
    return ["background"] + [n.strip() for n in raw.split("+") if n.strip()]


# ---------------------------------------------------------------- reading

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextmanager
def reading(path, what: str = "read"):
    """Re-raise anything a reader throws as a DatasetError naming `path`."""
    try:
        yield
    except BenchError:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot {what} {path}: {_first_line(exc)}") from exc


def _to_stored(arr: np.ndarray, path) -> np.ndarray:
    """Normalize a decoded array to H×W or H×W×3, uint8 or uint16."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 4:  # RGBA → RGB (alpha dropped)
        arr = arr[..., :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise DatasetError(f"{path}: unsupported image shape {arr.shape} (expected H×W gray or H×W×3 RGB)")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(arr.dtype, np.integer) and arr.size and arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16)
        else:
            raise DatasetError(f"{path}: unsupported pixel type {arr.dtype} (expected 8- or 16-bit unsigned integers)")
    return np.ascontiguousarray(arr)


def _check_complete(path: Path) -> None:
    """PIL decodes a PNG whose IEND chunk is cut off without complaint; refuse it."""
    if path.suffix.lower() == ".png":
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - 64))
            tail = fh.read()
        if b"IEND" not in tail:
            raise DatasetError(f"cannot read {path}: truncated PNG (no IEND chunk after {size} bytes)")


MAX_PIXELS = 100_000_000  # 10,000 × 10,000: above any radiograph or mammogram; a whole-slide image must be tiled


def _check_dimensions(path: Path) -> None:
    """Refuse an image whose header declares more than `MAX_PIXELS` before decoding a byte of it:
    a few kilobytes of PNG can inflate to gigabytes (a decompression bomb)."""
    from PIL import Image

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # our limit, and our message
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Exception:  # a header PIL cannot read: the decoder will say what is wrong
        return
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if width * height > MAX_PIXELS:
        raise DatasetError(f"{path}: the header declares a {width}×{height} image ({width * height / 1e6:.0f} Mpx), more than the "
                           f"{MAX_PIXELS / 1e6:.0f} Mpx this harness reads (a decompression bomb, or a whole-slide image: tile it first)")


def read_image(path: Path) -> np.ndarray:
    """An image file as stored: uint8 or uint16, gray or RGB (palette expanded, alpha dropped)."""
    path = Path(path)
    with reading(path):
        _check_complete(path)
        _check_dimensions(path)
        if path.suffix.lower() in (".png", ".tif", ".tiff"):
            import imagecodecs  # keeps 16-bit RGB, which PIL silently truncates to 8 bits

            arr = imagecodecs.imread(str(path))
            if arr.ndim == 4:  # multi-page TIFF
                arr = arr[0]
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                if im.mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif im.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
                    im = im.convert("L" if im.mode == "1" else "RGB")
                arr = np.asarray(im)
    return _to_stored(arr, path)


def read_mask(path: Path) -> np.ndarray:
    """A mask file as raw integer values (H×W). JPEG masks are thresholded at 128 to {0, 1}."""
    path = Path(path)
    with reading(path):
        _check_complete(path)
        _check_dimensions(path)
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            jpeg = path.suffix.lower() in JPEG_EXTS or im.format == "JPEG"
            if im.mode in ("RGBA", "LA", "PA"):
                im = im.convert("RGB" if im.mode == "RGBA" else "L" if im.mode == "LA" else "P")
            if im.mode == "1":
                im = im.convert("L")
            arr = np.asarray(im)
    if jpeg:
        gray = arr.mean(axis=2) if arr.ndim == 3 else arr
        return (gray >= 128).astype(np.uint8)
    if arr.ndim == 3:
        if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])):
            raise DatasetError(f"{path}: colour mask; save masks as gray or palette PNGs whose values are class ids")
        arr = arr[..., 0]
    if not np.issubdtype(arr.dtype, np.integer):
        raise DatasetError(f"{path}: mask has non-integer pixel type {arr.dtype}")
    return arr


def depth_for_max(max_value: float) -> int:
    """Declared bit depth of uint16 data from its largest value: ≤1023 → 10, ≤4095 → 12, else 16."""
    if max_value <= 1023:
        return 10
    if max_value <= 4095:
        return 12
    return 16


def assign_bit_depths(samples: list, declared: int | None, source: str) -> None:
    """Set every sample's bit depth. uint8 images are 8-bit. 16-bit PNG/TIFF images take the declared
    depth, else the smallest that holds the dataset's largest value, with a warning, since a 16-bit
    container says nothing about the real range: values within 0..255 are coded as 8-bit (stored
    as uint8, so JPEG codes them and PSNR has the 255 peak an 8-bit save of the same image gets),
    within 0..1023 as 10-bit, within 0..4095 as 12-bit; `bit_depth=16` keeps the container's."""
    wide = [s for s in samples if s.image.dtype == np.uint16]
    if not wide:
        for s in samples:
            s.bit_depth = 8
        return
    top = max(int(s.image.max()) for s in wide)
    depth = declared or (8 if top <= 255 else depth_for_max(top))
    mixed = len(wide) < len(samples) and depth > 8  # refused later (mixed bit depths): no warning first
    if declared is None and depth < 16 and not mixed:
        data_warning(f"{source}: 16-bit images whose values stay within 0..{top}: coded as {depth}-bit "
                     f"(PSNR peak {2**depth - 1}); give bit_depth=16 to keep 16 bits")
    for s in samples:
        if s.image.dtype == np.uint16 and depth == 8:
            s.image = s.image.astype(np.uint8)
        s.bit_depth = 8 if s.image.dtype == np.uint8 else depth


# ---------------------------------------------------------------- classes

@dataclass
class ClassFile:
    names: list[str] | None = None  # index = class id, 0 = background
    values: dict[int, int] | None = None  # raw mask value → class id
    meta: dict | None = None  # bit_depth, modality, ...
    path: Path | None = None


def load_class_file(path: Path) -> ClassFile:
    """`classes.json`: ["background", "polyp"] or {"names": [...], "values": {"255": 1 or "polyp"}, "bit_depth": 12}."""
    path = Path(path)
    if not path.is_file():
        return ClassFile()
    with reading(path):
        data = json.loads(path.read_text())
    if isinstance(data, list):
        data = {"names": data}
    if not isinstance(data, dict) or not isinstance(data.get("names"), list) or not data["names"]:
        raise DatasetError(f"{path}: expected a list of class names or an object with a 'names' list")
    names = [str(n) for n in data["names"]]
    values = None
    if data.get("values") is not None:
        if not isinstance(data["values"], dict):
            raise DatasetError(f"{path}: 'values' must map raw mask values to class ids or names")
        values = {}
        for raw, target in data["values"].items():
            try:
                raw_int = int(raw)
            except ValueError:
                raise DatasetError(f"{path}: 'values' key {raw!r} is not an integer mask value") from None
            cls = names.index(target) if isinstance(target, str) and target in names else target
            if not isinstance(cls, int) or not 0 <= cls < len(names):
                raise DatasetError(f"{path}: 'values' maps {raw} to {target!r}, not a class in {names}")
            values[raw_int] = cls
    meta = {k: v for k, v in data.items() if k not in ("names", "values")}
    return ClassFile(names, values, meta, path)


def map_mask(raw: np.ndarray, classes: ClassFile, path) -> np.ndarray:
    """Raw mask values → class ids (uint8 when they fit, else uint16).

    With `values` in classes.json: that mapping, and any other value is an error. Otherwise 0/255
    binary masks become {0, 1} and other masks are class ids as they are.
    """
    uniques = np.unique(raw)
    if classes.values is not None:
        unknown = [int(v) for v in uniques if int(v) not in classes.values]
        if unknown:
            raise DatasetError(f"{path}: mask value {unknown[0]} is not in 'values' of {classes.path}")
        lut = np.zeros(int(uniques.max()) + 1, np.uint16)
        for raw_value, cls in classes.values.items():
            if raw_value < len(lut):
                lut[raw_value] = cls
        out = lut[raw]
    elif len(uniques) and uniques.max() == 255 and set(uniques.tolist()) <= {0, 255} and not (classes.names and len(classes.names) > 255):
        out = (raw == 255)
    else:
        out = raw
    return out.astype(np.uint8 if (out.size == 0 or out.max() < 256) else np.uint16)


# ---------------------------------------------------------------- splits

def hash_split(key: str, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> str:
    """Deterministic 70/10/20 train/val/test from a stable hash of `key` (an image stem, a case id)."""
    u = int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def slab_splits(n: int, gap: int, slabs: int = 1, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> list[str | None]:
    """Split `n` neighbouring slices into contiguous train/val/test slabs (70/10/20 of the slices that
    remain), with `gap` slices dropped at each boundary so that near-identical neighbours never sit on
    both sides. `slabs > 1` repeats the train/val/test pattern that many times along the axis (each
    split then sees every region). Each split keeps at least one slice when there are enough.
    None marks a dropped slice."""
    out: list[str | None] = [None] * n
    edges = np.linspace(0, n, max(1, slabs) + 1).round().astype(int)
    for chunk, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        g = gap
        while g > 0 and stop - start - (g if chunk else 0) - 2 * g < 3:
            g -= 1  # too few slices for the full gaps: narrow them rather than lose a split
        lead = g if chunk else 0  # boundary with the previous chunk's test slab
        usable = stop - start - lead - 2 * g
        if usable <= 0:
            continue
        counts = [int(round(usable * f)) for f in fractions[:2]]
        if usable >= 3:
            counts = [max(1, c) for c in counts]
            counts[0] = min(counts[0], usable - counts[1] - 1)
        counts.append(max(0, usable - sum(counts)))
        pos = start + lead
        for split, count in zip(SPLITS, counts):
            for i in range(pos, min(pos + count, stop)):
                out[i] = split
            pos += count + g
    return out
