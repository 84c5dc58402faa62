"""A codec that fails on chosen images, to prove a failing cell never stops a run."""

from __future__ import annotations

import numpy as np

from bench.codecs.base import Codec, QualityScale, pack_header, unpack_header


class FlakyCodec(Codec):
    """Stores raw pixels behind the 6-byte header; raises on images whose pixel sum is in `fail_sums`."""

    name = "flaky"
    bit_depths = (8, 10, 12, 16)
    channels = (1, 3)
    scale = QualityScale("level", "test level", 0, 100, (50,))
    fail_sums: set[int] = set()

    @classmethod
    def backend(cls) -> str:
        return "test"

    def _encode(self, image, quality, bit_depth):
        if int(image.sum()) in self.fail_sums:
            raise RuntimeError("refuses odd images")
        return pack_header(image.shape, bit_depth) + image.tobytes()

    def _decode(self, data):
        shape, bit_depth, payload = unpack_header(data)
        return np.frombuffer(payload, np.uint8 if bit_depth == 8 else np.uint16).reshape(shape).copy()
