"""Learned codec plugins in the harness: weights found per dataset (or a note naming the train
command), bytes from the real entropy coder, the same pixels in-process and in `-j` workers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("compressai")

from bench.datasets.phantom import open_phantom  # noqa: E402
from bench.train.codec import train_codec  # noqa: E402

TINY = {"N": 8, "M": 8, "steps": 6, "finetune_steps": 4, "lambdas": [0.05, 0.01], "val_every": 3, "crop": 64,
        "batch_size": 2, "threads": 1}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codec-weights")
    train_codec("mbt2018-mean", open_phantom("mr8"), folder / "mbt2018-mean-phantom.safetensors", TINY, show_progress=False)
    return folder


def _run(cli, tmp_path, weights, *extra):
    out = tmp_path / "run"
    proc = cli("run", "--codecs", "mbt2018-mean", "--data", "phantom:mr8", "--task", "none", "--limit", "3",
               "--out", str(out), "--quiet", *extra, env={"BENCH_WEIGHTS_DIR": str(weights)})
    assert proc.returncode == 0, proc.stderr
    return pd.read_parquet(out / "results.parquet"), json.loads((out / "manifest.json").read_text())


def test_rate_points_run_from_real_bytes(cli, tmp_path, weights):
    results, manifest = _run(cli, tmp_path, weights, "--no-cache")
    coded = results[results.codec == "mbt2018-mean"]
    assert sorted(coded.quality.unique()) == [0, 1] and (coded.status == "ok").all()
    assert (coded.bpp == 8 * coded.bytes / (coded.height * coded.width)).all()
    assert (coded.bpp_estimate > 0).all() and results[results.codec == "reference"].bpp_estimate.isna().all()
    params = manifest["codecs"]["mbt2018-mean"]["params"]
    assert params["lambdas"] == [0.01, 0.05] and len(params["weights_id"]) == 16


def test_workers_decode_the_same_pixels_as_the_main_process(cli, tmp_path, weights):
    one, _ = _run(cli, tmp_path / "one", weights, "--no-cache", "-j", "1")
    two, _ = _run(cli, tmp_path / "two", weights, "--no-cache", "-j", "2")
    columns = ["codec", "quality", "image_id", "bytes", "psnr", "ms_ssim"]
    assert one[columns].equals(two[columns])


def test_without_weights_the_default_run_skips_with_the_train_command(cli, tmp_path):
    proc = cli("run", "--data", "phantom:mr8", "--task", "none", "--limit", "1", "--quality", "40",
               "--codecs", "mbt2018-mean", "--out", str(tmp_path / "x"), env={"BENCH_WEIGHTS_DIR": str(tmp_path / "none")})
    assert proc.returncode == 2 and "bench train-codec mbt2018-mean --data phantom" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1
    from bench.api import default_codecs

    chosen, notes = default_codecs(open_phantom("mr8"))
    assert "mbt2018-mean" not in chosen and any("bench train-codec mbt2018-mean" in n for n in notes)


def test_weights_trained_on_other_data_are_refused(tmp_path, weights, monkeypatch):
    from dataclasses import replace

    from bench.codecs.learned.compressai_codec import MBT2018Mean
    from bench.datasets.base import Dataset
    from bench.errors import BenchError

    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(weights))
    data = open_phantom("mr8")
    other = Dataset(data.name, [replace(data.samples[0], image=data.samples[0].image ^ 1)] + data.samples[1:])
    assert MBT2018Mean.dataset_reason(data) is None
    assert "retrain with `bench train-codec mbt2018-mean" in MBT2018Mean.dataset_reason(other)
    with pytest.raises(BenchError, match="fingerprint"):
        MBT2018Mean().for_dataset(other.name, other.fingerprint)
