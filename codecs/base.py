"""The codec contract: numpy image in, bytes out, and back.

The bytes a codec returns are everything `decode` needs, so `8 * len(bytes) / (H * W)`
is an honest bpp. Codecs declare what they accept (bit depths, channel counts, a quality
scale with its native meaning); `encode` checks a request against that declaration before
doing any work, so a wrong request fails fast with a message naming the codec.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from bench.codecs.options import CodecOption, resolve
from bench.errors import UnsupportedInput

SUPPORTED_BIT_DEPTHS = (8, 10, 12, 16)


@dataclass(frozen=True)
class QualityScale:
    """A codec's native quality knob: what a number means, its range and default sweep."""

    name: str  # e.g. "quality", "qp", "psnr_db", "near", "distance", "lambda_index"
    meaning: str  # one line for `bench codecs`
    low: float
    high: float
    defaults: tuple[float, ...]
    higher_is_better: bool = True  # does a larger value mean higher fidelity?
    lossless: float | None = None  # the value that means lossless, if the codec has one
    integer: bool = True
    target: str | None = None  # the quality is a target of this row metric ("psnr"): misses are counted

    def check(self, codec: str, quality: float) -> float:
        if not (self.low <= quality <= self.high) and quality != self.lossless:
            raise UnsupportedInput(
                f"codec '{codec}': {self.name} {quality:g} is outside {self.low:g}..{self.high:g} ({self.meaning})"
            )
        if self.integer and float(quality) != int(quality):
            raise UnsupportedInput(f"codec '{codec}': {self.name} must be an integer, got {quality:g}")
        return int(quality) if self.integer else float(quality)

    def as_dict(self) -> dict:
        return asdict(self)


def channel_count(image: np.ndarray) -> int:
    """1 for H×W, 3 for H×W×3; anything else is not an image this harness handles."""
    if image.ndim == 2:
        return 1
    if image.ndim == 3 and image.shape[2] == 3:
        return 3
    raise UnsupportedInput(f"image of shape {image.shape} is neither H×W nor H×W×3")


def default_bit_depth(image: np.ndarray) -> int:
    return 8 if image.dtype == np.uint8 else 16


def check_image(image: np.ndarray, bit_depth: int | None) -> int:
    """Validate dtype against bit depth and return the bit depth; values must fit in it."""
    if image.dtype not in (np.uint8, np.uint16):
        raise UnsupportedInput(f"image dtype {image.dtype} is not uint8 or uint16")
    bit_depth = bit_depth or default_bit_depth(image)
    if bit_depth not in SUPPORTED_BIT_DEPTHS:
        raise UnsupportedInput(f"bit depth {bit_depth} is not one of {SUPPORTED_BIT_DEPTHS}")
    if (image.dtype == np.uint8) != (bit_depth == 8):
        raise UnsupportedInput(f"a {bit_depth}-bit image must be stored as {'uint8' if bit_depth == 8 else 'uint16'}, got {image.dtype}")
    if bit_depth < 16 and image.size and int(image.max()) >= (1 << bit_depth):
        raise UnsupportedInput(f"image has value {int(image.max())}, which does not fit in {bit_depth} bits")
    channel_count(image)
    return bit_depth


class Codec(ABC):
    """One image codec. Subclasses set the class attributes and write `_encode`/`_decode`."""

    name: ClassVar[str]
    family: ClassVar[str] = "classical"  # or "learned"
    deterministic: ClassVar[bool] = True  # same bytes for the same input on any machine (`bench check` compares them)
    bit_depths: ClassVar[tuple[int, ...]] = (8,)
    channels: ClassVar[tuple[int, ...]] = (1, 3)
    scale: ClassVar[QualityScale]
    options: ClassVar[tuple[CodecOption, ...]] = ()  # settings a user may change: `--codecs NAME:key=value`
    # Where the codec codes: "cpu" (every codec here: the learned ones too, whose range coder and
    # bit-exact decoding are CPU-only), or "device" for one that codes on the run's --device; the
    # executors code "device" cells in the main process on a GPU, all others in their workers.
    runs_on: ClassVar[str] = "cpu"
    device: str = "cpu"  # set by `cells.build_codec` for a codec that runs on the device

    def __init__(self, **options) -> None:
        self.settings = resolve(self.name, self.options, options)  # every declared option, checked

    # -- what the registry and `bench codecs` show ---------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend works here, else why not (missing library, encoder...)."""
        return None

    @classmethod
    @abstractmethod
    def backend(cls) -> str:
        """Library and version that produce the stream, e.g. 'imagecodecs 2025.3 (openjpeg 2.5)'."""

    # -- data the codec was trained on (learned codecs) ---------------------------------
    @classmethod
    def dataset_reason(cls, dataset) -> str | None:
        """None when this codec can code `dataset`'s images, else why not (e.g. no weights trained
        for it, with the command that trains them). Cheap: reads no weights."""
        return None

    def for_dataset(self, name: str, fingerprint: str) -> None:
        """Called once before coding a dataset's images: learned codecs load the weights trained
        for it (refusing weights trained on other data); classical codecs need nothing."""

    def ready(self) -> None:
        """Build what coding needs (networks) now, before a cell's clock starts: encode_s and
        decode_s measure coding, never a one-time load. Classical codecs have nothing to build."""

    def params(self) -> dict:
        """Settings besides quality that change the bitstream; part of the cache key."""
        return {}

    def fingerprint(self) -> dict:
        return {"codec": self.name, "backend": self.backend(), "params": self.params(), "options": self.settings}

    # -- the contract ------------------------------------------------------------------
    def check(self, image: np.ndarray, quality: float, bit_depth: int | None = None) -> tuple[float, int]:
        """Raise UnsupportedInput unless this codec declares support for the request."""
        bit_depth = check_image(image, bit_depth)
        if bit_depth not in self.bit_depths:
            raise UnsupportedInput(f"codec '{self.name}' does not support {bit_depth}-bit images (supports {list(self.bit_depths)})")
        ch = channel_count(image)
        if ch not in self.channels:
            raise UnsupportedInput(f"codec '{self.name}' does not support {ch}-channel images (supports {list(self.channels)})")
        return self.scale.check(self.name, quality), bit_depth

    def estimated_bits(self, image: np.ndarray, quality: float, bit_depth: int) -> float | None:
        """A learned codec's likelihood estimate of its payload in bits, logged beside the real
        bytes (`bpp_estimate`) so the two can be compared; None for codecs without one."""
        return None

    def encode(self, image: np.ndarray, quality: float, bit_depth: int | None = None) -> bytes:
        quality, bit_depth = self.check(image, quality, bit_depth)
        return bytes(self._encode(np.ascontiguousarray(image), quality, bit_depth))

    def decode(self, data: bytes) -> np.ndarray:
        return self._decode(data)

    @abstractmethod
    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes: ...

    @abstractmethod
    def _decode(self, data: bytes) -> np.ndarray: ...


# -- a tiny header for codecs whose stream cannot carry shape or bit depth -------------
_HEADER = struct.Struct("<HHBB")  # height, width, channels, bit depth: 6 bytes, counted in bpp


def pack_header(shape: tuple[int, ...], bit_depth: int) -> bytes:
    channels = 1 if len(shape) == 2 else shape[2]
    return _HEADER.pack(shape[0], shape[1], channels, bit_depth)


def unpack_header(data: bytes) -> tuple[tuple[int, ...], int, bytes]:
    """Return (shape, bit depth, payload) from bytes written as pack_header(...) + payload."""
    if len(data) < _HEADER.size:
        raise ValueError("stream too short for its header")
    h, w, c, bit_depth = _HEADER.unpack_from(data)
    shape = (h, w) if c == 1 else (h, w, c)
    return shape, bit_depth, data[_HEADER.size :]


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Edge-replicate to a multiple of `multiple` (4:2:0 and block codecs); crop after decode."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return image
    pad = ((0, ph), (0, pw)) + (((0, 0),) if image.ndim == 3 else ())
    return np.pad(image, pad, mode="edge")
