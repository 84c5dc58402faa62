"""VVC intra (H.266) with libvvenc in imageio-ffmpeg's ffmpeg, decoded in-process by PyAV."""

from __future__ import annotations

import functools
import re
import subprocess

import numpy as np

from bench.codecs.base import Codec, QualityScale, pack_header, unpack_header
from bench.codecs.options import CodecOption
from bench.codecs.classical._common import pad_for_encoder, planes_from_frame, rgb_to_ycbcr, to_uint, ycbcr_to_rgb


@functools.lru_cache(maxsize=None)
def _ffmpeg() -> tuple[str | None, str]:
    """(path to an ffmpeg with libvvenc, or None; why not / version line)."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
        version = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except Exception as exc:  # missing package, binary or broken download
        return None, f"no ffmpeg from imageio-ffmpeg ({exc})"
    if " libvvenc " not in encoders:
        return None, f"{version.split(' Copyright')[0]} has no libvvenc encoder (imageio-ffmpeg>=0.8.0 has one)"
    return exe, version.split(" Copyright")[0]


# `-threads 1`: VVenC's default thread pool used 2 cores per encode for a slower wall time
# (7.2 s on one thread against 8.0 s, measured on 9 slices) and stacked 2 threads on each -j
# worker; the stream is the same byte for byte (tests/test_codec_threads.py).
ONE_THREAD = ("-threads", "1")


class VVC(Codec):
    """One VVC intra frame at a fixed QP, VVenC `preset` (an option), `-qpa 0` (perceptual QP adaptation
    off: it costs ~14% bits at equal PSNR). libvvenc only takes 10-bit 4:2:0, so we build the
    planes ourselves: 8-bit values are shifted left by 2, 10-bit ones go in as they are
    (ffmpeg's own gray→yuv conversion squeezes the range, −15 dB). Gray is coded as monochrome
    (ChromaFormatIDC=400); RGB as full-range BT.601 YCbCr 4:2:0 (chroma 2×2-averaged, bilinear
    on decode). 12/16-bit are not declared: vvenc is a 10-bit encoder and would drop bits.
    Frames are edge-padded to a multiple of 8 and at least 32×32 (vvenc rejects tiny frames)."""

    name = "vvc"
    bit_depths = (8, 10)
    channels = (1, 3)
    scale = QualityScale(
        name="qp",
        meaning="vvenc constant QP (intra only, no QP adaptation); +6 doubles the quantiser step",
        low=0, high=63, defaults=(22, 27, 32, 37, 42, 47), higher_is_better=False,
    )
    # medium by default: on colin27-aal it is 13% below x265 medium in PSNR BD-rate, where faster
    # is no better than HEVC (-0.2%); slow gains 1.2% more at 2.4x the time (shared/notes/learned.md)
    options = (CodecOption("preset", str, "medium", "VVenC preset: slower ones try more coding tools and modes",
                           choices=("faster", "fast", "medium", "slow", "slower")),)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        exe, why = _ffmpeg()
        if exe is None:
            return why
        try:
            import av
        except ImportError as exc:
            return f"PyAV is not installed ({exc})"
        return None if "vvc" in av.codecs_available else "PyAV's FFmpeg has no VVC decoder"

    @classmethod
    @functools.lru_cache(maxsize=None)
    def backend(cls) -> str:
        import av

        exe, version = _ffmpeg()
        vvenc = "?"
        if exe is not None:  # libvvenc logs its version at verbose level: one 32×32 encode
            log = cls._run(exe, np.full(32 * 32 * 3 // 2, 512, "<u2").tobytes(), 32, 32, 51, True, "faster", "verbose").stderr
            m = re.search(rb"libvvenc version: (\S+)", log)
            vvenc = m.group(1).decode() if m else "?"
        return f"{version} (libvvenc {vvenc}); decoder PyAV {av.__version__}"

    def params(self) -> dict:
        return {"qpa": 0, "gray": "4:0:0", "rgb": "YCbCr 4:2:0 full-range BT.601", "input_bits": 10}

    @classmethod
    def _run(cls, exe: str, raw: bytes, w: int, h: int, qp: int, gray: bool, preset: str, loglevel: str = "error"):
        cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", loglevel,
               "-f", "rawvideo", "-pix_fmt", "yuv420p10le", "-s", f"{w}x{h}", "-i", "pipe:0", "-frames:v", "1",
               "-c:v", "libvvenc", "-preset", preset, "-qp", str(qp), "-qpa", "0", *ONE_THREAD]  # fmt: skip
        if gray:
            cmd += ["-vvenc-params", "ChromaFormatIDC=400"]
        proc = subprocess.run(cmd + ["-f", "vvc", "pipe:1"], input=raw, capture_output=True)
        if proc.returncode:
            raise RuntimeError(f"ffmpeg/libvvenc failed: {proc.stderr.decode(errors='replace')[-500:]}")
        return proc

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        padded = pad_for_encoder(image, 8, 32)
        ph, pw = padded.shape[:2]
        shift = 10 - bit_depth
        if image.ndim == 2:
            y = padded.astype(np.uint16) << shift
            cb = cr = np.full((ph // 2, pw // 2), 512, np.uint16)
        else:
            ycc = rgb_to_ycbcr(padded.astype(np.float64) * (1 << shift), 1023)
            y = to_uint(ycc[0], 1023)
            cb, cr = (to_uint(c.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3)), 1023) for c in ycc[1:])
        raw = b"".join(p.astype("<u2").tobytes() for p in (y, cb, cr))
        stream = self._run(_ffmpeg()[0], raw, pw, ph, quality, image.ndim == 2, self.settings["preset"]).stdout
        return pack_header(image.shape, bit_depth) + stream

    def _decode(self, data: bytes) -> np.ndarray:
        import av
        from scipy.ndimage import zoom

        shape, bit_depth, payload = unpack_header(data)
        scale, peak = 1 << (10 - bit_depth), (1 << bit_depth) - 1
        ctx = av.CodecContext.create("vvc", "r")
        frame = (list(ctx.decode(av.Packet(payload))) + list(ctx.decode(None)))[0]
        planes = planes_from_frame(frame)
        if len(shape) == 2:
            out = to_uint(planes[0] / scale, peak)
        else:
            y = planes[0].astype(np.float64)
            chroma = [zoom(c.astype(np.float64), 2, order=1, mode="nearest", grid_mode=True) for c in planes[1:3]]
            out = to_uint(ycbcr_to_rgb(np.stack([y, *chroma]), 1023) / scale, peak)
        return out[: shape[0], : shape[1]]
