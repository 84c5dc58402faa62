"""Codec speed: encode and decode, each timed alone, in megapixels per second on a 512×512
8-bit gray slice at the codec's middle default quality.

The slice is a colin27-aal test slice scaled to 512×512 (speed_helpers.to_square) for every
codec, so the rates compare; without mricron-data the classical codecs use a phantom MR slice
instead and the learned ones (weights trained on colin27-aal) are skipped.
`extra_info`: mp_per_s, quality, bpp, image (which slice).
"""

from __future__ import annotations

import pytest

from bench import registry
from speed_helpers import MEGAPIXELS, colin27_slice, phantom_slice, record_rate, rounds_for, warm_call

CODECS = sorted(registry.available("codec"))


@pytest.fixture(scope="module")
def slice512(colin27_or_reason):
    """(image, source name, dataset or None): colin27-aal when installed, else the phantom."""
    data, _ = colin27_or_reason
    if data is None:
        return phantom_slice(), "phantom mr8 test[0] 512x512", None
    return colin27_slice(data), "colin27-aal test middle slice 512x512", data


def _codec(name: str, slice512):
    """The codec ready for the slice's data (learned codecs: its weights), and its middle quality."""
    image, source, data = slice512
    codec_cls = registry.get("codec", name)
    if codec_cls.family == "learned":
        if data is None:
            pytest.skip(f"{name}: learned codecs are benchmarked on colin27-aal, which is not installed")
        why_not = codec_cls.dataset_reason(data)
        if why_not:
            pytest.skip(why_not)
    codec = codec_cls()
    if data is not None:
        codec.for_dataset(data.name, data.fingerprint)  # learned codecs load weights; sets their scale
    defaults = codec.scale.defaults
    return codec, defaults[len(defaults) // 2]


def _report(benchmark, codec, quality, stream, source, what: str) -> None:
    benchmark.extra_info.update(quality=quality, bpp=round(8 * len(stream) / (512 * 512), 4), image=source)
    rate = record_rate(benchmark, "mp_per_s", MEGAPIXELS, "MP/s")
    if rate is not None:
        print(f"\n{codec.name} {what}: {rate:.2f} MP/s (quality {quality:g}, {benchmark.extra_info['bpp']} bpp)")


@pytest.mark.parametrize("name", CODECS)
def test_encode_speed(benchmark, name, slice512):
    image, source, _ = slice512
    codec, quality = _codec(name, slice512)
    benchmark.group = "codec encode"
    _, seconds = warm_call(lambda: codec.encode(image, quality, 8))
    again = benchmark.pedantic(codec.encode, args=(image, quality, 8), rounds=rounds_for(seconds), iterations=1)
    assert len(again) > 0
    decoded = codec.decode(again)
    assert decoded.shape == image.shape and decoded.dtype == image.dtype
    _report(benchmark, codec, quality, again, source, "encode")


@pytest.mark.parametrize("name", CODECS)
def test_decode_speed(benchmark, name, slice512):
    image, source, _ = slice512
    codec, quality = _codec(name, slice512)
    benchmark.group = "codec decode"
    stream = codec.encode(image, quality, 8)
    _, seconds = warm_call(lambda: codec.decode(stream))
    decoded = benchmark.pedantic(codec.decode, args=(stream,), rounds=rounds_for(seconds), iterations=1)
    assert decoded.shape == image.shape and decoded.dtype == image.dtype
    _report(benchmark, codec, quality, stream, source, "decode")
