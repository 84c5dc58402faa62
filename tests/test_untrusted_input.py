"""Issue 26, untrusted input: files whose headers promise gigabytes fail in one line before any
allocation, and dataset-supplied strings reach the HTML report as text, never as markup."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from bench.errors import DatasetError


def _png(path, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_a_png_bomb_fails_in_one_line_before_decoding(tmp_path):
    from bench.datasets.folder import open_folder

    _png(tmp_path / "d" / "images" / "bomb.png", 100_000, 100_000)  # 1 KB of file, 10 GB of pixels
    with pytest.raises(DatasetError, match=r"bomb\.png: the header declares a 100000×100000 image \(10000 Mpx\)"):
        open_folder(str(tmp_path / "d"))


def test_a_dicom_with_absurd_rows_and_columns_fails_before_allocating(tmp_path):
    from bench.datasets.dicom import open_dicom
    from test_datasets_loaders import write_dicom

    for z in range(3):
        write_dicom(tmp_path / "s" / f"{z}.dcm", np.zeros((8, 8), np.uint16), series="1.2.3.4", sop=f"1.2.3.4.{z}", z=z)
    import pydicom

    victim = tmp_path / "s" / "1.dcm"
    ds = pydicom.dcmread(victim)
    ds.Rows, ds.Columns = 60000, 60000  # the pixel data stays 128 bytes
    ds.save_as(victim)
    with pytest.raises(DatasetError, match=r"1\.dcm: Rows×Columns×frames is 60000×60000×1 \(3600 Mpx\)"):
        open_dicom(str(tmp_path / "s"))


def test_a_class_name_with_markup_renders_as_text_in_the_report(tmp_path):
    from bench.analysis.report import write_report
    from test_figures import make_folder

    run = make_folder(tmp_path / "run", with_mvmicnet=False)
    import json

    manifest = json.loads((run / "manifest.json").read_text())
    evil = "<img src=x onerror=alert(1)>"
    manifest.setdefault("dataset", {})["seg_classes"] = ["background", evil]
    manifest["dataset"]["name"] = evil
    (run / "manifest.json").write_text(json.dumps(manifest))
    page = (write_report(run, tmp_path / "report", n_draws=0)[0]).read_text()
    assert evil not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_markup_class_name_stays_text_in_headless_chromium(tmp_path):
    import json

    from bench.analysis.browser_check import check_page, chromium
    from bench.analysis.report import write_report
    from test_figures import make_folder

    if chromium() is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium)")
    run = make_folder(tmp_path / "run", with_mvmicnet=False)
    manifest = json.loads((run / "manifest.json").read_text())
    evil = "<img src=x onerror=alert(1)>"
    manifest.setdefault("dataset", {})["name"] = evil
    (run / "manifest.json").write_text(json.dumps(manifest))
    page = write_report(run, tmp_path / "report", n_draws=0)[0]
    images, problems = check_page(page)
    assert images >= 1 and problems == []  # no <img src=x>: it would be a broken image with an onerror
    raw = tmp_path / "raw.html"  # the check can fail: the name inserted as markup (without the alert, which blocks headless Chromium)
    raw.write_text(page.read_text().replace("&lt;img src=x onerror=alert(1)&gt;", "<img src=x alt=injected>", 1))
    assert any("broken image" in p or p.startswith("error") for p in check_page(raw)[1])
