"""WebP (libwebp through Pillow)."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, features

from bench.codecs.base import Codec, QualityScale, pack_header, unpack_header


class WebP(Codec):
    """Lossy WebP (VP8 intra, always 4:2:0) through Pillow, because imagecodecs' webp_encode
    rejects gray. WebP has no gray mode: a gray image is coded as luma with neutral chroma and
    decoded back to one channel (its luma). Quality 100 selects WebP lossless (VP8L), bit-exact."""

    name = "webp"
    bit_depths = (8,)
    channels = (1, 3)
    scale = QualityScale(
        name="quality",
        meaning="libwebp quality 0..95; 100 = lossless (VP8L)",
        low=0, high=95, defaults=(1, 10, 30, 50, 75, 90), lossless=100,
    )
    method = 6  # slowest, best compression; still ~10 ms per 256² image

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None if features.check("webp") else "this Pillow build has no WebP support"

    @classmethod
    @functools.lru_cache(maxsize=None)
    def backend(cls) -> str:
        return f"Pillow {Image.__version__} (libwebp {features.version('webp')})"

    def params(self) -> dict:
        return {"method": self.method}

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        buf = io.BytesIO()
        lossless = quality == self.scale.lossless
        Image.fromarray(image).save(buf, "WEBP", quality=quality, method=self.method, lossless=lossless)
        # WebP has no gray flag, so the 6-byte header records the channel count.
        return pack_header(image.shape, bit_depth) + buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        shape, _, payload = unpack_header(data)
        im = Image.open(io.BytesIO(payload))
        return np.asarray(im.convert("L" if len(shape) == 2 else "RGB"))
