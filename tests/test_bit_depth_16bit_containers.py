"""Issue 26 item 1: a 16-bit PNG whose values all stay below 256 was declared 10-bit (PSNR against a
1023 peak, ~12 dB too high; jpeg refused). Its values are 8-bit values: coded as 8-bit, with a
warning, exactly as the same image saved as an 8-bit PNG; `bit_depth=16` keeps the container."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image


def _folder(tmp_path, name, array):
    root = tmp_path / name
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k in range(3):
        Image.fromarray(array).save(root / "images" / f"im{k}.png")
        Image.fromarray(np.zeros(array.shape, np.uint8)).save(root / "masks" / f"im{k}.png")
    return root


def test_a_16_bit_png_with_8_bit_values_is_coded_as_the_8_bit_save_of_it(tmp_path):
    from bench.datasets.folder import open_folder
    from bench.quality import psnr
    from bench.registry import get

    values = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wide = open_folder(str(_folder(tmp_path, "wide2", values.astype(np.uint16))))
    assert any("coded as 8-bit" in str(w.message) and "bit_depth=16" in str(w.message) for w in caught)
    narrow = open_folder(str(_folder(tmp_path, "narrow", values)))
    a, b = wide.samples[0], narrow.samples[0]
    assert (a.bit_depth, a.image.dtype) == (8, np.uint8) and np.array_equal(a.image, b.image)
    jpeg2000 = get("codec", "jpeg2000")()
    streams = [jpeg2000.encode(s.image, 40, s.bit_depth) for s in (a, b)]
    assert streams[0] == streams[1]
    assert psnr(a.image, jpeg2000.decode(streams[0]), a.bit_depth) == pytest.approx(psnr(b.image, jpeg2000.decode(streams[1]), 8))
    get("codec", "jpeg")().encode(a.image, 50, a.bit_depth)  # no longer "unsupported"


def test_declared_16_bits_keep_the_container_and_wider_values_get_the_smallest_depth_that_holds_them(tmp_path):
    from bench.datasets.folder import open_folder

    values = (np.arange(32 * 32).reshape(32, 32) % 200).astype(np.uint16)
    kept = open_folder(str(_folder(tmp_path, "kept", values)) + ",bit_depth=16")
    assert (kept.samples[0].bit_depth, kept.samples[0].image.dtype) == (16, np.uint16)
    with pytest.warns(UserWarning, match="coded as 12-bit"):
        twelve = open_folder(str(_folder(tmp_path, "twelve", values * 20)))
    assert twelve.samples[0].bit_depth == 12
