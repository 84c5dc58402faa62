"""Codecs that fail on purpose, to prove a failing cell never stops a run."""

from __future__ import annotations

import os
import time

import numpy as np

from bench.codecs.base import Codec, QualityScale, pack_header, unpack_header
from bench.codecs.options import CodecOption


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


class FaultyCodec(Codec):
    """Misbehaves below quality 50 the way real encoders do, chosen by `mode`: hang (sleeps),
    abort (a native crash: os.abort() kills the process), raise, or garbage (bytes that do not
    decode). At 50 and above it stores raw pixels like FlakyCodec. Registered for worker processes
    through an entry point that only the tests put on the path (see test_executors.py)."""

    name = "faulty"
    bit_depths = (8, 10, 12, 16)
    channels = (1, 3)
    scale = QualityScale("level", "test level; below 50 the fault strikes", 0, 100, (40, 60))
    options = (CodecOption("mode", str, "none", "the fault", choices=("none", "hang", "abort", "raise", "garbage")),)

    @classmethod
    def backend(cls) -> str:
        return "test"

    def _encode(self, image, quality, bit_depth):
        mode = self.settings["mode"] if quality < 50 else "none"
        if mode == "hang":
            time.sleep(3600)
        elif mode == "abort":
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file for a crash on purpose
            os.abort()
        elif mode == "raise":
            raise RuntimeError("encoder refused the image")
        elif mode == "garbage":
            return b"\x00garbage"
        return pack_header(image.shape, bit_depth) + image.tobytes()

    def _decode(self, data):
        shape, bit_depth, payload = unpack_header(data)
        return np.frombuffer(payload, np.uint8 if bit_depth == 8 else np.uint16).reshape(shape).copy()
