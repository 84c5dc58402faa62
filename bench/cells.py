"""One cell of the sweep: encode, decode, check, measure. Runs in the main process or a worker."""

from __future__ import annotations

import math
import time

import numpy as np

from bench import registry

_codecs: dict[tuple[str, str], object] = {}


def build_codec(spec_text: str, device: str = "cpu"):
    """A codec from its spec (`name` or `name:key=value...`); bad names or options raise BenchError.
    `device` reaches only a codec that declares it runs there (`Codec.runs_on`)."""
    from bench.codecs.options import parse_spec

    spec = parse_spec(spec_text)
    codec = registry.get("codec", spec.name)(**spec.options)
    if codec.runs_on == "device":
        codec.device = device
    return codec


def codes_in_main(codec, device: str) -> bool:
    """Whether the codec's cells are coded in the main process: a codec that runs on the run's
    accelerator, so that N workers never compete for one GPU or load N copies of a model on it."""
    return codec.runs_on == "device" and device != "cpu"


def codec_instance(spec_text: str, device: str = "cpu", data: tuple[str, str] | None = None):
    """One instance per process, spec, device and dataset (name, fingerprint): learned codecs
    load their weights once per worker, not once per cell."""
    key = (spec_text, device, data)
    if key not in _codecs:
        codec = build_codec(spec_text, device)
        if data is not None:
            codec.for_dataset(*data)
        _codecs[key] = codec
    return _codecs[key]


def group_key(codec: str, quality: float) -> tuple[str, float | None]:
    """A cell's group (codec, quality), the reference's NaN quality as None, so it can be a dict key."""
    return codec, (None if quality is None or math.isnan(quality) else float(quality))


def blank_row(status: str = "ok", error: str = "") -> dict:
    """The measured fields of a row before (or instead of) measuring."""
    return {"bytes": math.nan, "bpp": math.nan, "psnr": math.nan, "ms_ssim": math.nan,
            "encode_s": math.nan, "decode_s": math.nan, "status": status, "error": error}


def measure_cell(codec_name: str, quality: float, image: np.ndarray, bit_depth: int, device: str = "cpu",
                 data: tuple[str, str] | None = None) -> tuple[dict, bytes, np.ndarray | None]:
    """`device`: the run's device for a cell coded in the main process, else "cpu"."""
    """Return (row, bitstream, decoded image); a raising codec gives a failed row, never an exception."""
    from bench.quality import ms_ssim, psnr

    h, w = image.shape[:2]
    row = blank_row()
    stream, decoded = b"", None
    try:
        codec = codec_instance(codec_name, device, data)
        codec.ready()  # networks built outside the timed span
        t0 = time.perf_counter()
        stream = codec.encode(image, quality, bit_depth)
        t1 = time.perf_counter()
        decoded = codec.decode(stream)
        t2 = time.perf_counter()
        if decoded.shape != image.shape or decoded.dtype != image.dtype:
            raise ValueError(f"decoded {decoded.shape} {decoded.dtype}, expected {image.shape} {image.dtype}")
        row.update(
            bytes=len(stream), bpp=8 * len(stream) / (h * w), encode_s=t1 - t0, decode_s=t2 - t1,
        )
        row.update(psnr=psnr(image, decoded, bit_depth), ms_ssim=ms_ssim(image, decoded, bit_depth))
        estimate = codec.estimated_bits(image, quality, bit_depth)
        if estimate is not None:  # learned codecs: the likelihood estimate, beside the real bytes
            row["bpp_estimate"] = estimate / (h * w)
    except Exception as exc:  # recorded, and the sweep goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        stream, decoded = b"", None
    return row, stream, decoded


def decode_cached(codec_name: str, stream: bytes, device: str = "cpu", data: tuple[str, str] | None = None) -> np.ndarray:
    return codec_instance(codec_name, device, data).decode(stream)
