"""A rerun whose cells and task scores are all cached reads the cache and writes the table: it
never imports torch, compressai or ultralytics (seconds each), and it gives the same table."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError

HEAVY = ("torch", "compressai", "ultralytics")

RERUN = """
import json, sys
from bench.api import run
from bench.runner import RunConfig
config = RunConfig(**json.loads(sys.argv[1]))
result = run(config, out=sys.argv[2])
print(json.dumps({"cached": result.cells_cached, "computed": result.cells_computed,
                  "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_fully_cached_rerun_imports_no_heavy_library_and_gives_the_same_table(tmp_path):
    from bench.api import run
    from bench.datasets.colin27 import open_colin27
    from bench.runner import RunConfig

    try:
        open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    # quality 0: jpeg2000 lossless and mbt2018-mean's lowest rate point
    config = {"codecs": ["jpeg2000", "mbt2018-mean"], "data": "colin27-aal", "tasks": ["seg", "det"], "limit": 2,
              "qualities": [0], "jobs": 1, "device": "cpu", "cache_dir": str(tmp_path / "cache")}
    first = run(RunConfig(**config), out=tmp_path / "first")
    assert first.cells_computed == 4 and (first.results["status"] == "ok").all()

    again = subprocess.run([sys.executable, "-c", RERUN, json.dumps(config), str(tmp_path / "again")],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout.strip().splitlines()[-1])
    assert report == {"cached": 4, "computed": 0, "heavy": []}
    timing = ["encode_s", "decode_s"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "results.parquet").drop(columns=timing),
                                  first.results.drop(columns=timing).reset_index(drop=True), check_dtype=False)


def test_weights_id_is_the_same_from_numpy_and_from_torch():
    import torch

    from bench.checkpoints import weights_id

    state = {"b": torch.arange(6, dtype=torch.int64), "a": torch.linspace(-1, 1, 12).reshape(3, 4)}
    as_numpy = {k: v.numpy() for k, v in state.items()}
    assert weights_id(state, "salt") == weights_id(as_numpy, "salt")
    assert weights_id(state, "salt") != weights_id(state, "other salt")


def test_learned_codecs_name_the_entropy_coder_compressai_uses():
    import compressai

    from bench.codecs.learned.compressai_codec import ENTROPY_CODER, MBT2018Mean

    assert compressai.get_entropy_coder() == ENTROPY_CODER
    assert f"entropy coder {ENTROPY_CODER}" in MBT2018Mean.backend()


def test_a_checkpoint_read_without_torch_matches_the_torch_reader(tmp_path):
    import torch

    from bench.checkpoints import load_checkpoint, load_checkpoint_arrays, save_checkpoint

    state = {"w": torch.randn(4, 3), "n": torch.tensor([3], dtype=torch.int64)}
    path = save_checkpoint(tmp_path / "x.safetensors", state, {"dataset_fingerprint": "abc", "kind": "codec"})
    arrays, manifest = load_checkpoint_arrays(path, "abc")
    tensors, _ = load_checkpoint(path, "abc")
    assert manifest["dataset_fingerprint"] == "abc" and arrays["w"].dtype == np.float32
    for key in state:
        np.testing.assert_array_equal(arrays[key], tensors[key].numpy())
    with pytest.raises(BenchError, match="fingerprint"):
        load_checkpoint_arrays(path, "another")
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="unreadable"):
        load_checkpoint_arrays(tmp_path / "bad.safetensors")


def test_networks_are_built_by_ready_before_the_cell_clock_starts(monkeypatch):
    """Lazy networks must not land in the first cell's encode_s: `measure_cell` calls `ready()` first."""
    from bench import cells
    from bench.codecs.learned.compressai_codec import MBT2018Mean
    from bench.datasets.colin27 import open_colin27

    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    codec = MBT2018Mean()
    codec.for_dataset(data.name, data.fingerprint)
    assert codec.models == []  # read and checked, not built
    built = []
    monkeypatch.setattr(codec, "_build_models", lambda real=codec._build_models: built.append(1) or real())
    clock = []
    monkeypatch.setattr(cells.time, "perf_counter", lambda real=cells.time.perf_counter: clock.append(len(built)) or real())
    monkeypatch.setitem(cells._codecs, ("mbt2018-mean", "cpu", (data.name, data.fingerprint)), codec)
    sample = data.split("test")[0]
    row, stream, decoded = cells.measure_cell("mbt2018-mean", 0, sample.image, sample.bit_depth, "cpu", (data.name, data.fingerprint))
    assert row["status"] == "ok" and len(codec.models) == len(codec.manifest["rate_points"])
    assert built == [1] and clock and all(n == 1 for n in clock)  # built once, before the first clock reading
