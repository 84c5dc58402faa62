"""Codec options: declared by the codec, given as NAME:key=value, checked before any work,
and part of the cache key, the result rows and the manifest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.codecs.options import CodecOption, parse_spec, resolve
from bench.errors import BenchError


def test_specs_parse_and_label_canonically():
    spec = parse_spec(" vvc:qpa=0:preset=slow ")
    assert spec.name == "vvc" and spec.options == {"preset": "slow", "qpa": "0"}
    assert spec.label == "vvc:preset=slow:qpa=0"  # options sorted, so equal specs share one label
    assert parse_spec("jpeg").label == "jpeg"
    for bad in ("vvc:preset", ":preset=slow", "vvc:preset=slow:preset=fast", "vvc:=slow"):
        with pytest.raises(BenchError):
            parse_spec(bad)


def test_options_are_typed_bounded_and_defaulted():
    declared = (CodecOption("lambda", float, 0.01, "rate-distortion trade-off", low=0.0001, high=1.0),
                CodecOption("stage", int, 2, "training stage", choices=(1, 2)))
    assert resolve("m", declared, {}) == {"lambda": 0.01, "stage": 2}
    assert resolve("m", declared, {"lambda": "0.0067", "stage": "1"}) == {"lambda": 0.0067, "stage": 1}
    for given, culprit in (({"lambda": "x"}, "float"), ({"lambda": "5"}, "outside"), ({"stage": "3"}, "one of"),
                           ({"gamma": "1"}, "no option 'gamma'")):
        with pytest.raises(BenchError, match=culprit):
            resolve("m", declared, given)


def test_bench_codecs_lists_declared_options(cli):
    proc = cli("codecs", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    vvc = {o["name"]: o for o in rows["vvc"]["options"]}
    assert vvc["preset"]["default"] and "medium" in vvc["preset"]["choices"]
    assert rows["jpeg"]["options"] == []


def test_an_option_is_its_own_codec_in_rows_cache_and_manifest(cli, tmp_path):
    out = tmp_path / "run"
    args = ("run", "--codecs", "bpg,bpg:preset=ultrafast", "--data", "phantom:mr8", "--task", "none", "--limit", "2",
            "--quality", "32", "--out", str(out), "--quiet")
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "4 cells computed" in proc.stderr  # the two presets never share a cache entry
    results = pd.read_parquet(out / "results.parquet")
    coded = results[results.codec != "reference"]
    assert set(coded.codec) == {"bpg", "bpg:preset=ultrafast"}
    options = {c: json.loads(o) for c, o in zip(coded.codec, coded.codec_options)}
    assert options == {"bpg": {"preset": "medium"}, "bpg:preset=ultrafast": {"preset": "ultrafast"}}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["codecs"]["bpg:preset=ultrafast"]["options"] == {"preset": "ultrafast"}
    assert "0 cells computed, 4 from cache" in cli(*args).stderr
