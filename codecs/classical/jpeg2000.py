"""JPEG 2000 (OpenJPEG) and High-Throughput JPEG 2000 (OpenJPH), both through imagecodecs."""

from __future__ import annotations

import imagecodecs
import numpy as np

from bench.codecs.base import QualityScale
from bench.codecs.classical._common import ImagecodecsCodec


class JPEG2000(ImagecodecsCodec):
    """OpenJPEG, one quality layer. OpenJPEG's native knob is a target PSNR in dB, taken against
    the peak of `bitspersample`: we pass the true bit depth, else a 12-bit image in uint16 would
    be judged against 65535 and quantised away. 0 dB selects the reversible 5/3 path (lossless)."""

    name = "jpeg2000"
    bit_depths = (8, 10, 12, 16)
    channels = (1, 3)
    scale = QualityScale(
        name="psnr_db",
        meaning="OpenJPEG target PSNR in dB against the image's bit-depth peak; 0 = lossless",
        low=15, high=80, defaults=(26, 29, 32, 35, 38, 41), lossless=0, integer=False, target="psnr",
    )
    _lib = "jpeg2k"

    def params(self) -> dict:
        return {"codecformat": "j2k", "layers": 1, "mct": True}

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        return imagecodecs.jpeg2k_encode(image, level=quality, codecformat="j2k", bitspersample=bit_depth)

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.jpeg2k_decode(data)


class HTJ2K(ImagecodecsCodec):
    """OpenJPH (JPEG 2000 Part 15). Its knob is the irreversible base quantisation step, as a
    fraction of the sample range of the *container* (OpenJPH codes uint16 as 16-bit), so we
    scale it by 2**(bit_depth - container bits): the same step means the same relative
    distortion at 8, 10, 12 or 16 bits. Step 0 = reversible (lossless).

    Decoded with OpenJPEG's jpeg2k_decode, which clips; OpenJPH's own htj2k_decode wraps
    overshooting samples (a 255 that rings to 256 comes back as 0)."""

    name = "htj2k"
    # OpenJPH's irreversible transform picks its SIMD path per CPU: the same image and step gave
    # 1,335 bytes on the Zen 4 (AVX-512) the reference was made on and 1,334 on a Zen 3 (AVX2)
    # (phantom ct12-011, qstep 0.025), so `bench check` compares its PSNR, not its bytes
    deterministic = False
    bit_depths = (8, 10, 12, 16)
    channels = (1, 3)
    scale = QualityScale(
        name="qstep",
        meaning="OpenJPH base quantisation step, relative to the bit-depth range; 0 = lossless",
        low=0.0005, high=1.0, defaults=(0.025, 0.05, 0.1, 0.2, 0.4, 0.7),
        higher_is_better=False, lossless=0, integer=False,
    )
    _lib = "htj2k"

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        if quality == self.scale.lossless:
            return imagecodecs.htj2k_encode(image, reversible=True)
        step = quality * 2.0 ** (bit_depth - 8 * image.itemsize)
        return imagecodecs.htj2k_encode(image, level=step, reversible=False)

    def _decode(self, data: bytes) -> np.ndarray:
        return imagecodecs.jpeg2k_decode(data)
