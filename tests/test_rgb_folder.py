"""A CVC-ColonDB-like folder (RGB frames + binary masks) end to end, as the paper's pipeline runs
it: a seg network trained on the RGB frames, a learned codec trained with 3 channels, a sweep
that reports mIoU. The frames are the phantom's endoscopy images written out as PNG files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("compressai")


@pytest.fixture(scope="module")
def colondb_like(tmp_path_factory):
    from PIL import Image

    from bench.datasets.phantom import open_phantom

    root = tmp_path_factory.mktemp("cvc") / "cvc-colondb-like"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for sample in open_phantom("endo").samples:
        Image.fromarray(sample.image).save(root / "images" / f"{sample.id}.png")
        Image.fromarray(((sample.mask == 2) * 255).astype(np.uint8)).save(root / "masks" / f"{sample.id}.png")  # polyp vs rest
    return root


def test_rgb_folder_trains_codes_in_3_channels_and_reports_miou(cli, tmp_path, colondb_like):
    weights = tmp_path / "weights"
    env = {"BENCH_WEIGHTS_DIR": str(weights)}
    data = f"folder:{colondb_like}"
    seg = cli("train-task", "seg", "--data", data, "--epochs", "1", "--set", "base=8", env=env)
    assert seg.returncode == 0, seg.stderr
    codec = cli("train-codec", "mbt2018-mean", "--data", data, "-j", "1", "--set", "N=8", "--set", "M=8", "--set", "steps=4",
                "--set", "finetune_steps=2", "--set", "lambdas=[0.05,0.01]", "--set", "val_every=2", "--set", "crop=64",
                "--set", "batch_size=2", env=env)
    assert codec.returncode == 0, codec.stderr
    out = tmp_path / "run"
    run = cli("run", "--codecs", "jpeg,mbt2018-mean", "--data", data, "--task", "seg", "--split", "all",
              "-j", "1", "--quiet", "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["codecs"]["mbt2018-mean"]["params"]["N"] == 8
    assert json.loads((weights / "mbt2018-mean-folder.json").read_text())["channels"] == 3
    summary = pd.read_csv(out / "summary.csv")
    assert summary.miou.between(0, 1).all() and summary.psnr.notna().all()
    results = pd.read_parquet(out / "results.parquet")
    learned = results[results.codec == "mbt2018-mean"]
    assert (learned.status == "ok").all() and (learned.bpp == 8 * learned.bytes / (learned.height * learned.width)).all()
