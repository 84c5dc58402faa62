"""Shared helpers for the classical codecs: imagecodecs base, YCbCr, PyAV frame planes."""

from __future__ import annotations

import functools

import numpy as np

from bench.codecs.base import Codec, pad_to_multiple


class ImagecodecsCodec(Codec):
    """A codec whose encoder and decoder are imagecodecs functions (one C library each).

    Subclasses name the library (`_lib`, e.g. "jpeg2k"); backend() and availability follow.
    """

    _lib: str  # imagecodecs prefix: jpeg8, jpeg2k, htj2k, jpegls, jpegxl, avif

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import imagecodecs
        except ImportError as exc:  # pragma: no cover - a declared dependency
            return f"imagecodecs is not installed ({exc})"
        if not getattr(imagecodecs, cls._lib.upper()).available:
            return f"this imagecodecs build has no {cls._lib} codec"
        return None

    @classmethod
    @functools.lru_cache(maxsize=None)
    def backend(cls) -> str:
        import imagecodecs

        lib = getattr(imagecodecs, f"{cls._lib}_version")()
        return f"imagecodecs {imagecodecs.__version__} ({lib})"


def rgb_to_ycbcr(rgb: np.ndarray, peak: float) -> np.ndarray:
    """Full-range BT.601 (JPEG/BPG convention), float planes (3, H, W); chroma centred at (peak+1)/2."""
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    mid = (peak + 1) / 2
    return np.stack([y, (b - y) / 1.772 + mid, (r - y) / 1.402 + mid])


def ycbcr_to_rgb(ycc: np.ndarray, peak: float) -> np.ndarray:
    """Inverse of rgb_to_ycbcr, returning float H×W×3 (not yet rounded or clipped)."""
    mid = (peak + 1) / 2
    y, cb, cr = ycc[0].astype(np.float64), ycc[1] - mid, ycc[2] - mid
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)


def to_uint(x: np.ndarray, peak: int) -> np.ndarray:
    """Round, clip to 0..peak and store in the smallest unsigned dtype that holds peak."""
    return np.clip(np.rint(x), 0, peak).astype(np.uint8 if peak < 256 else np.uint16)


def frame_from_planes(planes: list[np.ndarray], pix_fmt: str):
    """Build an av.VideoFrame of `pix_fmt` by writing each plane into PyAV's padded buffers.

    PyAV's from_ndarray lacks the 10/12-bit planar formats, so write the memory directly.
    """
    import av

    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, pix_fmt)
    for plane, data in zip(frame.planes, planes):
        buf = np.frombuffer(memoryview(plane), dtype=data.dtype).reshape(-1, plane.line_size // data.itemsize)
        buf[: data.shape[0], : data.shape[1]] = data
    return frame


def planes_from_frame(frame) -> list[np.ndarray]:
    """Copy each plane of a decoded av.VideoFrame out of its padded buffer (uint8 or uint16)."""
    dtype = np.uint16 if frame.format.name.endswith("le") else np.uint8
    out = []
    for plane in frame.planes:
        buf = np.frombuffer(memoryview(plane), dtype=dtype).reshape(-1, plane.line_size // np.dtype(dtype).itemsize)
        out.append(buf[: plane.height, : plane.width].copy())
    return out


def pad_for_encoder(image: np.ndarray, multiple: int, minimum: int) -> np.ndarray:
    """Edge-pad to a multiple of `multiple` and at least minimum×minimum (video encoders reject
    tiny frames: x265 below 16, vvenc below 32). The caller crops after decoding."""
    padded = pad_to_multiple(image, multiple)
    ph, pw = max(0, minimum - padded.shape[0]), max(0, minimum - padded.shape[1])
    if ph or pw:
        padded = np.pad(padded, ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2), mode="edge")
    return padded
