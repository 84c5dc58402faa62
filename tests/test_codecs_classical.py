"""Classical codec plugins: contract (shape, dtype, declared support), rate–distortion sanity,
lossless bit-exactness, and the known traps from shared/notes/codecs.md."""

from __future__ import annotations

from importlib.metadata import entry_points

import imagecodecs
import numpy as np
import pytest

from bench.codecs.base import Codec
from bench.errors import UnsupportedInput


def _classical() -> dict[str, type[Codec]]:
    out = {}
    for ep in entry_points(group="bench.codecs"):
        if ep.value.startswith("bench.codecs.classical."):
            cls = ep.load()
            assert cls.name == ep.name, f"entry point {ep.name} loads codec named {cls.name}"
            out[ep.name] = cls
    return out


CODECS = _classical()
AVAILABLE = {n: c for n, c in CODECS.items() if c.unavailable_reason() is None}
NAMES = sorted(AVAILABLE)


def medical(h=256, w=256, bit_depth=8, seed=0, rgb=False) -> np.ndarray:
    """Deterministic CT-like slice: dark background, elliptic body, hard-edged organs,
    1/f texture and a little noise; values use the full range of `bit_depth`."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    body = ((x - 0.5) / 0.44) ** 2 + ((y - 0.5) / 0.38) ** 2 < 1
    img = 0.04 + 0.40 * body
    for _ in range(10):
        cy, cx, ry, rx = *rng.uniform(0.28, 0.72, 2), *rng.uniform(0.03, 0.12, 2)
        img = img + body * rng.uniform(-0.25, 0.45) * ((((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) < 1)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    tex = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((h, w))) / np.maximum(f, 1 / max(h, w)) ** 1.2))
    img = img + body * 0.08 * tex / tex.std() + 0.010 * rng.standard_normal((h, w))
    img = np.clip(img, 0, 1)
    if rgb:
        img = np.stack([img, np.clip(img * 0.9 + 0.05, 0, 1), img**1.3], axis=-1)
    return np.round(img * ((1 << bit_depth) - 1)).astype(np.uint8 if bit_depth == 8 else np.uint16)


def psnr(a: np.ndarray, b: np.ndarray, bit_depth: int) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(((1 << bit_depth) - 1) ** 2 / mse)


def best(cls: type[Codec]) -> float:
    """The highest-fidelity default quality."""
    return (max if cls.scale.higher_is_better else min)(cls.scale.defaults)


def roundtrip(codec: Codec, image: np.ndarray, quality: float, bit_depth: int):
    data = codec.encode(image, quality, bit_depth)
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == image.dtype, (codec.name, out.shape, out.dtype)
    return data, out


@pytest.fixture(scope="module")
def curves() -> dict[str, list[tuple[float, float]]]:
    """(bpp, PSNR) at each default, in increasing-fidelity order, on the 8-bit 256² image."""
    image = medical()
    out = {}
    for name, cls in AVAILABLE.items():
        qs = sorted(cls.scale.defaults, reverse=not cls.scale.higher_is_better)
        pts = []
        for q in qs:
            data, dec = roundtrip(cls(), image, q, 8)
            pts.append((8 * len(data) / image.size, psnr(image, dec, 8)))
        out[name] = pts
    return out


def codec(name: str) -> Codec:
    """An instance of a named codec, or skip (with the codec's reason) where its backend is missing."""
    if name not in AVAILABLE:
        pytest.skip(f"{name}: {CODECS[name].unavailable_reason()}")
    return AVAILABLE[name]()


def test_all_classical_codecs_registered():
    expected = {"jpeg", "jpeg2000", "htj2k", "jpegls", "jpegxl", "webp", "avif", "bpg", "vvc"}
    assert expected <= set(CODECS)
    for name, cls in CODECS.items():
        assert cls.family == "classical"
        if name in AVAILABLE:
            assert any(ch.isdigit() for ch in cls.backend())
        else:
            assert cls.unavailable_reason().strip()
        assert 4 <= len(cls.scale.defaults) <= 6 and cls.scale.lossless not in cls.scale.defaults


@pytest.mark.parametrize("shape", [(61, 47), (217, 181), (5, 3)])
@pytest.mark.parametrize("name", NAMES)
def test_gray8_odd_size_roundtrip(name, shape):
    cls = AVAILABLE[name]
    image = medical(*shape, seed=1)
    q = sorted(cls.scale.defaults)[len(cls.scale.defaults) // 2]
    _, out = roundtrip(cls(), image, q, 8)
    if min(shape) > 8:
        assert psnr(image, out, 8) > 20


@pytest.mark.parametrize("name", NAMES)
def test_quality_monotonic(name, curves):
    bpp, db = np.array(curves[name]).T
    assert np.all(np.diff(bpp) > 0), curves[name]
    assert np.all(np.diff(db) > 0), curves[name]
    assert bpp[0] < 0.4 and bpp[-1] > 0.9, curves[name]  # defaults span low to high rate


@pytest.mark.parametrize(
    "name,bit_depth,rgb",
    [
        (n, bd, rgb)
        for n in NAMES
        for bd in AVAILABLE[n].bit_depths
        if bd > 8
        for rgb in ([False, True] if 3 in AVAILABLE[n].channels else [False])
    ],
)
def test_high_bit_depth(name, bit_depth, rgb):
    cls = AVAILABLE[name]
    image = medical(97, 83, bit_depth=bit_depth, seed=2, rgb=rgb)
    _, out = roundtrip(cls(), image, best(cls), bit_depth)
    assert psnr(image, out, bit_depth) > 30
    assert int(out.max()) < (1 << bit_depth) or bit_depth == 16


@pytest.mark.parametrize("name", [n for n in NAMES if 3 in AVAILABLE[n].channels])
def test_rgb(name):
    cls = AVAILABLE[name]
    image = medical(61, 47, rgb=True, seed=3)
    _, out = roundtrip(cls(), image, best(cls), 8)
    assert psnr(image, out, 8) > 30
    # channels are not swapped or averaged away
    assert all(psnr(image[..., c], out[..., c], 8) > 28 for c in range(3))


@pytest.mark.parametrize(
    "name,bit_depth,rgb",
    [
        (n, bd, rgb)
        for n in NAMES
        if AVAILABLE[n].scale.lossless is not None
        for bd in AVAILABLE[n].bit_depths
        for rgb in ([False, True] if 3 in AVAILABLE[n].channels else [False])
    ],
)
def test_lossless_bit_exact(name, bit_depth, rgb):
    cls = AVAILABLE[name]
    image = medical(61, 47, bit_depth=bit_depth, rgb=rgb, seed=4)
    _, out = roundtrip(cls(), image, cls.scale.lossless, bit_depth)
    assert np.array_equal(out, image)


@pytest.mark.parametrize("name", NAMES)
def test_unsupported_raises_before_work(name, monkeypatch):
    cls = AVAILABLE[name]
    codec = cls()
    monkeypatch.setattr(codec, "_encode", lambda *a: pytest.fail("_encode ran on an unsupported request"))
    q = cls.scale.defaults[0]
    bad = [
        (medical(16, 16), cls.scale.high + 1000, 8),  # quality out of range
        (np.zeros((16, 16, 4), np.uint8), q, 8),  # RGBA
        (np.zeros((16, 16), np.float32), q, None),  # float
    ]
    bad += [(np.zeros((16, 16), np.uint16), q, bd) for bd in (10, 12, 16) if bd not in cls.bit_depths]
    if 3 not in cls.channels:
        bad.append((np.zeros((16, 16, 3), np.uint8), q, 8))
    if cls.scale.integer:
        bad.append((medical(16, 16), cls.scale.defaults[0] + 0.5, 8))
    for image, quality, bd in bad:
        with pytest.raises(UnsupportedInput):
            codec.encode(image, quality, bd)


# -- known traps (shared/notes/codecs.md) ---------------------------------------------------
def test_avif_gray_quality_changes_size():
    avif, image = codec("avif"), medical(128, 128)
    low, high, lossless = (len(avif.encode(image, q, 8)) for q in (20, 80, 100))
    assert low < high < lossless and low < 0.5 * high


def test_webp_accepts_gray():
    image = medical(61, 47)
    _, out = roundtrip(codec("webp"), image, 75, 8)
    assert out.ndim == 2 and psnr(image, out, 8) > 30


def test_htj2k_decode_clips_instead_of_wrapping():
    image = np.pad(np.full((32, 32), 255, np.uint8), 16)  # bright square: ringing overshoots 255
    htj2k = codec("htj2k")
    wrapped = np.abs(imagecodecs.htj2k_decode(htj2k.encode(image, 0.2, 8)).astype(int) - image).max()
    _, out = roundtrip(htj2k, image, 0.2, 8)
    assert np.abs(out.astype(int) - image).max() < 100 and out[16:48, 16:48].min() > 150
    print(f"htj2k_decode max error {wrapped} (wraps), jpeg2k_decode {np.abs(out.astype(int) - image).max()}")


def test_jpeg2000_12bit_target_is_against_12bit_peak():
    image = medical(128, 128, bit_depth=12)
    for target in (30, 36):
        _, out = roundtrip(codec("jpeg2000"), image, target, 12)
        assert abs(psnr(image, out, 12) - target) < 1.5


def test_vvc_gray_keeps_range():
    image = medical(128, 128)
    _, out = roundtrip(codec("vvc"), image, 22, 8)
    assert psnr(image, out, 8) > 38
    assert out.min() <= image.min() + 2 and out.max() >= image.max() - 2


def test_rd_ordering_vvc_jpeg2000_jpeg(curves):
    """At matched bpp on a smooth textured gray image: VVC > JPEG 2000 > JPEG (the notes' order)."""

    for name in ("vvc", "jpeg2000", "jpeg"):
        codec(name)

    def at(name, bpp):
        b, d = np.array(curves[name]).T
        return np.interp(np.log(bpp), np.log(b), d)

    for bpp in (0.5, 1.0):
        vvc, j2k, jpg = at("vvc", bpp), at("jpeg2000", bpp), at("jpeg", bpp)
        assert vvc > j2k + 0.5 and j2k > jpg + 1.0, (bpp, vvc, j2k, jpg)
