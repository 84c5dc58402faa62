"""Bad input, as a user meets it: each case gives one `error:` line on stderr, exit code 2, no
traceback, and leaves no results folder (nor any temporary sibling of it) behind.

The README table "Bad input: what you see" lists these cases with their messages; cases already
covered elsewhere are listed there with their own tests (tests/test_cli.py, tests/test_runner.py,
tests/test_summary_counts.py). `bench` runs in-process here (one import of torch for the whole file);
tests/test_cli.py runs the same contract in a subprocess.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_datasets_loaders import nifti_pair, save, write_dicom


@pytest.fixture
def bench(monkeypatch, capsys, tmp_path):
    """Run `bench ARGS...` in-process: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no ./weights or ./results of the checkout

    def run(*args):
        from bench.cli import main

        args = [str(a) for a in args]
        if args and args[0] == "run":
            args += ["--cache-dir", str(tmp_path / "cache"), "--quiet"]
        monkeypatch.setattr(sys, "argv", ["bench", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def one_error_line(code: int, err: str, culprit: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert culprit in lines[0], lines[0]
    return lines[0]


def nothing_written(out: Path) -> None:
    """No results folder, and no temporary or old sibling of it."""
    assert not out.exists()
    if out.parent.exists():
        assert not list(out.parent.iterdir())


# ------------------------------------------------------------------ inputs the cases use

def folder_tree(root: Path, n: int = 4, shape=(40, 48)) -> Path:
    for i in range(n):
        save(root / "images" / f"im{i}.png", np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8))
        mask = np.zeros(shape, np.uint8)
        mask[5:15, 5:15] = 1
        save(root / "masks" / f"im{i}.png", mask)
    return root


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def dicom_folder(root: Path, sizes=((16, 12),) * 4, series="1.2.3.4", modality="CT") -> Path:
    for k, shape in enumerate(sizes):
        raw = np.random.default_rng(k).integers(0, 1400, shape).astype(np.uint16)
        write_dicom(root / f"{series}-{k:02d}.dcm", raw, series=series, sop=f"{series}.{k}", z=k)
    if modality != "CT":
        import pydicom

        for p in root.glob(f"{series}-*.dcm"):
            ds = pydicom.dcmread(p)
            ds.Modality, ds.RescaleIntercept = modality, 0
            ds.save_as(p)
    return root


def phantom_fingerprint() -> str:
    from bench.datasets.spec import open_dataset

    return open_dataset("phantom").fingerprint


def case_cli_option(tmp):
    return ["run", "--qualty", "5"], "--qualty"


def case_loader_option(tmp):
    return ["run", "--codecs", "jpeg", "--data", f"folder:{folder_tree(tmp / 'f')},colour=1"], "colour"


def case_data_path_not_name(tmp):
    (tmp / "scans").mkdir(exist_ok=True)
    return ["run", "--codecs", "jpeg", "--data", str(tmp / "scans")], f"use --data folder:{tmp / 'scans'}"


def case_bpp_negative(tmp):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--bpp", "-0.1"], "-0.1"


def case_bpp_text(tmp):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--bpp", "0.1,lots"], "lots"


def case_bpp_tolerance(tmp):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--bpp", "0.1", "--bpp-tolerance", "2"], "--bpp-tolerance"


def case_bpp_and_quality(tmp):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--bpp", "0.1", "--quality", "50"], "--bpp and --quality"


def case_limit_text(tmp):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--limit", "ten"], "--limit"


def case_truncated_png(tmp):
    root = folder_tree(tmp / "f")
    truncate(root / "images" / "im2.png")
    return ["run", "--codecs", "jpeg", "--data", f"folder:{root}"], "im2.png"


def case_corrupt_jpeg(tmp):
    root = folder_tree(tmp / "f")
    (root / "images" / "im2.png").unlink()
    (root / "images" / "im2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    return ["run", "--codecs", "jpeg", "--data", f"folder:{root}"], "im2.jpg"


def case_truncated_nifti(tmp):
    root, _, _ = nifti_pair(tmp / "n")
    truncate(root / "ct.nii.gz")
    return ["run", "--codecs", "jpeg", "--data", f"nifti:{root / 'ct.nii.gz'}"], "ct.nii.gz"


def case_truncated_dicom(tmp):
    root = dicom_folder(tmp / "d")
    truncate(root / "1.2.3.4-02.dcm")
    return ["run", "--codecs", "jpeg", "--data", f"dicom:{root}"], "1.2.3.4-02.dcm"


def case_mask_size(tmp):
    root = folder_tree(tmp / "f")
    save(root / "masks" / "im1.png", np.zeros((30, 48), np.uint8))
    return ["run", "--codecs", "jpeg", "--data", f"folder:{root}"], "im1.png"


def case_label_volume_size(tmp):
    root, _, _ = nifti_pair(tmp / "n", label_shape=(24, 20, 29))
    return ["run", "--codecs", "jpeg", "--data", f"nifti:{root / 'ct.nii.gz'}"], "ct_seg.nii.gz"


def case_empty_folder(tmp):
    (tmp / "e" / "images").mkdir(parents=True)
    return ["run", "--codecs", "jpeg", "--data", f"folder:{tmp / 'e'}"], str(tmp / "e")


def case_empty_split(tmp):
    root = folder_tree(tmp / "f")
    return ["run", "--codecs", "jpeg", "--data", f"folder:{root},split=test", "--split", "val"], "'val'"


def case_no_labelled_slice(tmp):
    root, hu, _ = nifti_pair(tmp / "n")
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros(hu.shape, np.uint8), np.eye(4)), root / "ct_seg.nii.gz")
    return ["run", "--codecs", "jpeg", "--data", f"nifti:{root / 'ct.nii.gz'},skip_empty=1"], "no slices with a label"


def case_spec_no_path(tmp):
    return ["run", "--codecs", "jpeg", "--data", "folder:"], "folder:/path/to/dir"


def case_spec_no_name(tmp):
    return ["run", "--codecs", "jpeg", "--data", ":/data/x"], ":/data/x"


def case_spec_bad_value(tmp):
    root, _, _ = nifti_pair(tmp / "n")
    return ["run", "--codecs", "jpeg", "--data", f"nifti:{root / 'ct.nii.gz'},axis=5"], "axis=5"


def case_spec_bad_window(tmp):
    return ["run", "--codecs", "jpeg", "--data", f"dicom:{dicom_folder(tmp / 'd')},window=wide"], "window='wide'"


def case_spec_bad_bit_depth(tmp):
    return ["run", "--codecs", "jpeg", "--data", f"dicom:{dicom_folder(tmp / 'd')},bit_depth=9"], "bit_depth=9"


def case_spec_option_after_path(tmp):
    root = folder_tree(tmp / "f")
    return ["run", "--codecs", "jpeg", "--data", f"folder:{root},split=test,extra"], "'extra'"


def case_dicom_series_sizes(tmp):
    root = dicom_folder(tmp / "d", sizes=[(16, 12)] * 3 + [(32, 24)])
    return ["run", "--codecs", "jpeg", "--data", f"dicom:{root}"], "mixes image sizes"


def case_dicom_ct_and_mr(tmp):
    root = dicom_folder(tmp / "d")
    dicom_folder(root, sizes=[(20, 20)] * 3, series="5.6.7", modality="MR")
    return ["run", "--codecs", "jpeg", "--data", f"dicom:{root}"], "series=CT or series=UID"


def case_task_checkpoint_other_dataset(tmp):
    weights = tmp / "w"
    weights.mkdir()
    (weights / "seg-phantom.safetensors").write_bytes(b"never read")
    (weights / "seg-phantom.json").write_text(json.dumps({"dataset_fingerprint": "0123456789abcdef"}))
    os.environ["BENCH_WEIGHTS_DIR"] = str(weights)
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--task", "seg"], "0123456789abcdef"


def case_task_checkpoint_corrupt(tmp):
    weights = tmp / "w"
    weights.mkdir()
    (weights / "seg-phantom.safetensors").write_bytes(b"\x00\x01garbage")
    (weights / "seg-phantom.json").write_text(json.dumps({"dataset_fingerprint": phantom_fingerprint()}))
    os.environ["BENCH_WEIGHTS_DIR"] = str(weights)
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--task", "seg"], "is unreadable"


def case_codec_checkpoint_other_dataset(tmp):
    import torch

    from bench.checkpoints import save_checkpoint

    weights = tmp / "w"
    save_checkpoint(weights / "mbt2018-mean-phantom.safetensors", {"p0.w": torch.zeros(2)},
                    {"kind": "codec", "arch": "mbt2018-mean", "dataset": "phantom",
                     "dataset_fingerprint": "fedcba9876543210"})  # trained before the data changed
    os.environ["BENCH_WEIGHTS_DIR"] = str(weights)
    return ["run", "--codecs", "mbt2018-mean", "--data", "phantom"], "fedcba9876543210"


def case_codec_checkpoint_corrupt(tmp):
    weights = tmp / "w"
    weights.mkdir()
    (weights / "mbt2018-mean-phantom.safetensors").write_bytes(b"\x00\x01garbage")
    os.environ["BENCH_WEIGHTS_DIR"] = str(weights)
    return ["run", "--codecs", "mbt2018-mean", "--data", "phantom"], "is unreadable"


def case_results_folder_is_a_file(tmp):
    (tmp / "taken").write_text("not a folder")
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--limit", "1", "--out", tmp / "taken"], "is a file"


def case_train_plot_missing_checkpoint(tmp):
    return ["train-plot", tmp / "none-colin27-aal.safetensors"], "none-colin27-aal.safetensors: no such checkpoint"


def case_train_plot_not_a_manifest(tmp):
    (tmp / "junk.json").write_text("{")
    return ["train-plot", tmp / "junk.json", "--out", tmp / "runs" / "out"], "junk.json: not a checkpoint or its manifest"


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(bench, tmp_path, monkeypatch, case):
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "no-weights"))  # cases that need weights set their own
    args, culprit = CASES[case](tmp_path)
    out = tmp_path / "runs" / "out"
    if args[0] == "run" and "--out" not in args:
        args += ["--task", "none"] if "--task" not in args else []
        args += ["--out", out]
    code, _, err = bench(*args)
    one_error_line(code, err, culprit)
    nothing_written(out)


# ------------------------------------------------------------------ results folder

def _sweep(tmp_path, out):
    return ["run", "--codecs", "jpeg", "--data", "phantom", "--task", "none", "--limit", "2", "--quality", "50", "--out", out]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; see the EROFS test")
def test_read_only_results_folder(bench, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, _, err = bench(*_sweep(tmp_path, parent / "out"))
        one_error_line(code, err, str(parent / "out"))
        assert not list(parent.iterdir())
    finally:
        parent.chmod(0o755)


def test_read_only_filesystem_fails_before_any_work(bench, tmp_path, monkeypatch):
    """A read-only mount (what root meets too): refused before a single cell is computed."""
    import tempfile

    real = tempfile.mkdtemp
    parent = tmp_path / "ro"
    parent.mkdir()

    def mkdtemp(*args, dir=None, **kw):
        if dir is not None and Path(dir) == parent:
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    code, _, err = bench(*_sweep(tmp_path, parent / "out"))
    line = one_error_line(code, err, "Read-only file system")
    assert str(parent / "out") in line
    assert not list(parent.iterdir()) and not (tmp_path / "cache").exists()  # nothing computed, nothing cached


@pytest.mark.parametrize("previous", [False, True], ids=["new-folder", "over-a-previous-run"])
def test_full_disk_leaves_no_partial_results(bench, tmp_path, monkeypatch, previous):
    """The disk fills while results are written: one line, exit 2, no partial files, and a
    previous results folder in that place is left exactly as it was."""
    out = tmp_path / "runs" / "out"
    if previous:
        code, _, err = bench(*_sweep(tmp_path, out))
        assert code == 0, err
        before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = pd.DataFrame.to_csv

    def to_csv(self, path=None, *args, **kw):
        if path is not None and Path(str(path)).name == "summary.csv":
            Path(path).write_bytes(b"codec,qual")  # a partial file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *args, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    code, _, err = bench(*_sweep(tmp_path, out), "--no-cache")
    one_error_line(code, err, "No space left on device")
    if previous:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert sorted(p.name for p in out.parent.iterdir()) == ["out"]
    else:
        nothing_written(out)


def test_usage_errors_are_one_line_in_a_real_process(cli, tmp_path):
    proc = cli("run", "--qualty", "5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: No such option: --qualty")
    assert "--quality" in proc.stderr and "see `bench run --help`" in proc.stderr
    proc = cli("run", "--codecs", "jpeg", "--data", f"dicom:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nowhere" in proc.stderr


def test_ctrl_c_says_so_exits_130_and_writes_no_results_folder(tmp_path):
    """typer turns Ctrl-C into Exit(130) before our handlers see it; the user still gets a line."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", "--codecs", "jpeg2000", "--data", "phantom", "--task", "none",
                             "--quality", ",".join(f"{20 + q / 10:.1f}" for q in range(400)), "--no-cache", "-j", "1", "--quiet", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a shell's background job (`cmd &`, nohup) ignores SIGINT, and children inherit that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(6)  # past start-up (imports, plan), inside the sweep (400 rate points: over a minute of work)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: nothing written" in stderr and "Traceback" not in stderr
    assert not out.exists()
