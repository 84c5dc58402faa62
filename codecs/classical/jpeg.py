"""JPEG (libjpeg-turbo through imagecodecs): the baseline every other codec is read against."""

from __future__ import annotations

import imagecodecs
import numpy as np

from bench.codecs.base import QualityScale
from bench.codecs.classical._common import ImagecodecsCodec


class JPEG(ImagecodecsCodec):
    """Baseline JPEG, 4:2:0 for RGB (libjpeg's default); 12-bit is libjpeg-turbo's 12-bit
    extended mode (what DICOM uses for CT). Quality 100 selects lossless JPEG (ITU T.81 process 14),
    bit-exact at 8 and 12 bits. 10-bit is not declared: libjpeg-turbo has no 10-bit precision."""

    name = "jpeg"
    bit_depths = (8, 12)
    channels = (1, 3)
    scale = QualityScale(
        name="quality",
        meaning="libjpeg quality factor (IJG tables scaled); 100 = lossless JPEG",
        low=5, high=95, defaults=(5, 15, 30, 50, 70, 85), lossless=100,
    )
    _lib = "jpeg8"

    def params(self) -> dict:
        return {"subsampling": "libjpeg default (4:2:0 for RGB)", "optimize": False}

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        if quality == self.scale.lossless:
            return imagecodecs.jpeg8_encode(image, lossless=True, bitspersample=bit_depth)
        return imagecodecs.jpeg8_encode(image, level=quality, bitspersample=bit_depth)

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.jpeg8_decode(data)
