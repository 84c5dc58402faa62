"""AVIF (libavif + its AV1 encoder through imagecodecs)."""

from __future__ import annotations

import imagecodecs
import numpy as np

from bench.codecs.base import QualityScale
from bench.codecs.classical._common import ImagecodecsCodec


class AVIF(ImagecodecsCodec):
    """Trap: imagecodecs' avif_encode silently goes lossless and ignores quality for 2-D (gray)
    input. So gray is sent as three identical channels with pixelformat 'yuv400' (a true
    monochrome AV1 stream; it decodes back to H×W). RGB is coded 4:4:4. Quality 100 selects
    lossless (gray as 2-D, RGB with the identity matrix), which round-trips bit-exactly."""

    name = "avif"
    bit_depths = (8, 10, 12)  # AV1 has no 16-bit profile
    channels = (1, 3)
    scale = QualityScale(
        name="quality",
        meaning="libavif quality 0..99 (maps to AV1 quantiser); 100 = lossless",
        low=0, high=99, defaults=(10, 25, 40, 55, 70, 85), lossless=100,
    )
    _lib = "avif"
    speed = 6  # libavif speed 0 (slowest) .. 10; 6 is Pillow's default and ~0.05 s per 256² image

    def params(self) -> dict:
        return {"speed": self.speed, "gray": "yuv400", "rgb": "yuv444"}

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        kw = dict(level=quality, speed=self.speed, bitspersample=bit_depth)
        if quality == self.scale.lossless:
            return imagecodecs.avif_encode(image, **kw)
        if image.ndim == 2:
            return imagecodecs.avif_encode(np.stack([image] * 3, axis=-1), pixelformat="yuv400", **kw)
        return imagecodecs.avif_encode(image, pixelformat="yuv444", **kw)

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.avif_decode(data)
