"""HEVC intra, the BPG equivalent: libx265 inside PyAV, decoded by FFmpeg's HEVC decoder."""

from __future__ import annotations

import functools
import re
from fractions import Fraction

import numpy as np

from bench.codecs.base import Codec, QualityScale, pack_header, unpack_header
from bench.codecs.options import CodecOption
from bench.codecs.classical._common import (
    frame_from_planes, pad_for_encoder, planes_from_frame, rgb_to_ycbcr, to_uint, ycbcr_to_rgb,
)

_GRAY = {8: "gray", 10: "gray10le", 12: "gray12le"}
_YUV444 = {8: "yuv444p", 10: "yuv444p10le", 12: "yuv444p12le"}
# One encoder thread: parallelism comes from -j workers, and x265's own pool (wavefront rows)
# put 2 threads per worker on the cores. The stream is the same byte for byte (tests/test_codec_threads.py).
ONE_THREAD = "pools=1:frame-threads=1"


class BPG(Codec):
    """One HEVC intra frame at a fixed QP, as BPG does (no bpgenc exists on PyPI or Debian 12).

    Gray is coded as true monochrome (4:0:0); RGB as full-range BT.601 YCbCr 4:4:4, BPG's
    default, converted here so nothing squeezes the range. 10/12-bit use PyAV's multilib x265
    (gray10le/gray12le), and QP means the same relative step at every depth. Differences from
    bpgenc: x265 `preset` (an option, default medium) + tune psnr (bpgenc ≈ placebo + tune ssim, QP+1). Frames are
    edge-padded to a multiple of 8 (x265's minimum CU), at least 16×16, and cropped; the 6-byte header keeps the
    true shape. 16-bit: HEVC RExt 16-bit is not in x265, so not declared."""

    name = "bpg"
    bit_depths = (8, 10, 12)
    channels = (1, 3)
    scale = QualityScale(
        name="qp",
        meaning="x265 constant QP (intra only); +6 doubles the quantiser step",
        low=0, high=51, defaults=(22, 27, 32, 37, 42, 47), higher_is_better=False,
    )
    options = (CodecOption("preset", str, "medium", "x265 preset: slower ones search more modes",
                           choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                    "slower", "veryslow", "placebo")),)
    tune = "psnr"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import av
        except ImportError as exc:
            return f"PyAV is not installed ({exc})"
        missing = {"libx265", "hevc"} - set(av.codecs_available)
        return f"PyAV's FFmpeg lacks {sorted(missing)}" if missing else None

    @classmethod
    @functools.lru_cache(maxsize=None)
    def backend(cls) -> str:
        import av

        lavc = ".".join(map(str, av.library_versions["libavcodec"]))
        # x265 writes its version into an SEI unless info=0: encode one tiny frame to read it.
        raw = cls._encode_frame(frame_from_planes([np.zeros((16, 16), np.uint8)], "gray"), 51, "medium", info=True)
        m = re.search(rb"x265 \(build \d+\) - ([\w.+-]+)", raw)
        return f"PyAV {av.__version__} (libavcodec {lavc}, libx265 {m.group(1).decode() if m else '?'})"

    def params(self) -> dict:
        return {"tune": self.tune, "gray": "4:0:0", "rgb": "YCbCr 4:4:4 full-range BT.601"}

    @classmethod
    def _encode_frame(cls, frame, qp: int, preset: str, info: bool = False) -> bytes:
        import av

        ctx = av.CodecContext.create("libx265", "w")
        ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, frame.format.name
        ctx.time_base = Fraction(1, 25)
        ctx.options = {
            "preset": preset,
            "tune": cls.tune,
            "x265-params": f"qp={qp}:keyint=1:info={int(info)}:log-level=error:{ONE_THREAD}",
        }
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        return b"".join(bytes(p) for p in packets)

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        padded = pad_for_encoder(image, 8, 16)
        if image.ndim == 2:
            frame = frame_from_planes([padded], _GRAY[bit_depth])
        else:
            peak = (1 << bit_depth) - 1
            frame = frame_from_planes(list(to_uint(rgb_to_ycbcr(padded, peak), peak)), _YUV444[bit_depth])
        return pack_header(image.shape, bit_depth) + self._encode_frame(frame, quality, self.settings["preset"])

    def _decode(self, data: bytes) -> np.ndarray:
        import av

        shape, bit_depth, payload = unpack_header(data)
        ctx = av.CodecContext.create("hevc", "r")
        frame = (list(ctx.decode(av.Packet(payload))) + list(ctx.decode(None)))[0]
        planes = planes_from_frame(frame)
        if len(shape) == 2:
            out = planes[0]
        else:
            peak = (1 << bit_depth) - 1
            out = to_uint(ycbcr_to_rgb(np.stack(planes), peak), peak)
        return out[: shape[0], : shape[1]]
