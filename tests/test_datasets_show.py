"""`bench datasets show`: describe(), the rich tables, the contact sheet PNG, and the CLI's exit
codes for good and bad `--data` specs (one-line error, exit 2, no traceback, nothing written)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
from PIL import Image
from rich.console import Console

from bench.datasets.phantom import open_phantom
from bench.datasets.show import describe, pick_samples, print_description, write_contact_sheet

MAIN = [sys.executable, "-c", "from bench.cli import main; main()"]


def run_cli(*args, cwd):
    return subprocess.run(MAIN + list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def test_describe_phantom():
    ds = open_phantom("ct12,endo")
    desc = describe(ds)
    assert desc["images"] == 28 and desc["splits"] == {"train": 16, "val": 4, "test": 8}
    assert desc["bit_depths"] == [8, 12] and desc["modalities"] == ["CT", "endoscopy"] and desc["channels"] == [1, 3]
    assert desc["image_size"]["most_common"] == [192, 176] and desc["image_size"]["distinct"] == 1
    for split, n in desc["splits"].items():
        assert sum(desc["seg_pixels"][split].values()) == n * 192 * 176
        assert desc["det_boxes"][split]["lesion"] == sum(len(s.boxes) for s in ds.samples if s.split == split)
    assert desc["seg_pixels"]["train"]["lesion"] > 0
    console = Console(file=io.StringIO(), width=120)
    print_description(desc, console)
    text = console.file.getvalue()
    assert "lesion" in text and "organ" in text and "train=16" in text


def test_pick_samples_spreads_over_splits():
    ds = open_phantom("mr8")
    picked = pick_samples(ds, 5)
    assert [s.split for s in picked] == ["train", "train", "val", "val", "test"]
    assert len(pick_samples(ds, 100)) == len(ds.samples)


def test_contact_sheet_atomic_png(tmp_path):
    ds = open_phantom("ct12,mr8,endo")
    target = tmp_path / "deep" / "er" / "sheet.png"
    write_contact_sheet(ds, target, count=6)
    assert target.stat().st_size > 10_000
    with Image.open(target) as im:
        assert im.format == "PNG" and im.size[0] > 400
    assert [p.name for p in target.parent.iterdir()] == ["sheet.png"]  # no temporary file left


def test_cli_show_phantom_writes_sheet(tmp_path):
    result = run_cli("datasets", "show", "phantom:ct12", "--sheet", "tmp/x.png", "--count", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sheet = tmp_path / "tmp" / "x.png"
    assert sheet.stat().st_size > 1000 and sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lesion" in result.stdout


def test_cli_bad_data_exits_2_with_one_line(tmp_path):
    result = run_cli("run", "--data", "folder:/nonexistent/kvasir", "--quiet", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "/nonexistent/kvasir" in lines[0]
    assert not (tmp_path / "results").exists()


def test_cli_show_truncated_file_writes_nothing(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "images" / "good.png")
    Image.fromarray(np.full((16, 16), 9, np.uint8)).save(root / "images" / "broken.png")
    data = (root / "images" / "broken.png").read_bytes()
    (root / "images" / "broken.png").write_bytes(data[: len(data) // 2])
    result = run_cli("datasets", "show", f"folder:{root}", "--sheet", "out/sheet.png", cwd=tmp_path)
    assert result.returncode == 2 and "broken.png" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
