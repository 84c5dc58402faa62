"""JPEG-LS (CharLS through imagecodecs): DICOM's lossless / near-lossless codec."""

from __future__ import annotations

import imagecodecs
import numpy as np

from bench.codecs.base import QualityScale
from bench.codecs.classical._common import ImagecodecsCodec


class JPEGLS(ImagecodecsCodec):
    """NEAR is a hard bound on every sample's absolute error, in the image's own units (so NEAR=4
    is a much smaller error on 12-bit data than on 8-bit). NEAR=0 is lossless. JPEG-LS cannot
    reach low rates: even large NEAR values stay well above 0.1 bpp on textured images."""

    name = "jpegls"
    bit_depths = (8, 10, 12, 16)
    channels = (1, 3)
    scale = QualityScale(
        name="near",
        meaning="maximum absolute error per sample (JPEG-LS NEAR); 0 = lossless",
        low=1, high=127, defaults=(2, 4, 8, 16, 32), higher_is_better=False, lossless=0,
    )
    _lib = "jpegls"

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        return imagecodecs.jpegls_encode(image, level=quality)

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.jpegls_decode(data)
