"""Plugins load through entry points; a broken one is listed with its reason, never fatal."""

from __future__ import annotations

import json

import pytest

from bench import registry
from bench.errors import PluginUnavailable, UnknownName

CLASSICAL = {"jpeg", "jpeg2000", "htj2k", "jpegls", "jpegxl", "webp", "avif", "bpg", "vvc"}


def test_all_classical_codecs_are_available():
    found = registry.plugins("codec")
    missing = {n: found[n].reason for n in CLASSICAL if n not in found or not found[n].available}
    assert not missing


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownName, match="did you mean 'jpeg2000'"):
        registry.get("codec", "jpeg200")


class _EntryPoint:
    def __init__(self, name, value, loader):
        self.name, self.value, self._loader = name, value, loader

    def load(self):
        return self._loader()


def test_broken_plugin_is_listed_unavailable_and_others_survive(monkeypatch):
    def broken():
        raise ImportError("no module named fancycodec")

    class NoBackend:
        @classmethod
        def unavailable_reason(cls):
            return "encoder binary not found"

    fake = [_EntryPoint("broken", "x:y", broken), _EntryPoint("nobackend", "x:z", lambda: NoBackend),
            _EntryPoint("fine", "x:w", lambda: object)]
    monkeypatch.setattr(registry, "entry_points", lambda group: fake)
    registry.plugins.cache_clear()
    try:
        found = registry.plugins("codec")
        assert not found["broken"].available and "fancycodec" in found["broken"].reason
        assert not found["nobackend"].available and found["nobackend"].reason == "encoder binary not found"
        assert found["fine"].available
        with pytest.raises(PluginUnavailable, match="encoder binary not found"):
            registry.get("codec", "nobackend")
    finally:
        registry.plugins.cache_clear()


def test_codecs_json_lists_every_classical_codec(cli):
    proc = cli("codecs", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert CLASSICAL <= set(rows)
    for name in CLASSICAL:
        row = rows[name]
        assert row["available"] and row["family"] == "classical" and row["backend"]
        assert row["bit_depths"] and row["channels"] and row["default_qualities"]


def test_datasets_json_lists_phantom(cli):
    proc = cli("datasets", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["phantom"]["available"] and rows["phantom"]["tasks"] == ["seg", "det"]


PLUGIN_FILE = '''
"""A codec in one file: 4-bit posterised PNG, registered by decorator."""
import io

import numpy as np
from PIL import Image

from bench.codecs.base import Codec, QualityScale
from bench.registry import register


@register("codec")
class Posterise(Codec):
    name = "posterise-test"
    bit_depths = (8,)
    channels = (1,)
    scale = QualityScale("bits", "grey-level bits kept", 1, 8, (2, 4))

    @classmethod
    def backend(cls) -> str:
        return "pillow-png"

    def _encode(self, image, quality, bit_depth):
        drop = 8 - int(quality)
        buffer = io.BytesIO()
        Image.fromarray(((image >> drop) << drop).astype(np.uint8)).save(buffer, format="PNG")
        return buffer.getvalue()

    def _decode(self, data):
        return np.asarray(Image.open(io.BytesIO(data)))
'''


def test_a_codec_in_one_file_is_listed_and_runs_without_a_pyproject_edit(cli, tmp_path):
    import pandas as pd

    plugin = tmp_path / "posterise.py"
    plugin.write_text(PLUGIN_FILE)
    env = {"BENCH_PLUGINS": str(plugin)}
    listed = cli("codecs", "poster*", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["posterise-test"] and rows[0]["available"]
    out = tmp_path / "run"
    proc = cli("run", "--codecs", "posterise-test,jpeg", "--data", "phantom:mr8", "--task", "none", "--limit", "2", "-j", "2",
               "--out", str(out), "--quiet", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = pd.read_parquet(out / "results.parquet")
    mine = rows[rows.codec == "posterise-test"]
    assert len(mine) == 4 and (mine.status == "ok").all() and (mine.bytes > 0).all()
    assert mine.groupby("quality").psnr.mean()[2] < mine.groupby("quality").psnr.mean()[4]  # fewer bits, more error
    broken = cli("codecs", "--json", env={"BENCH_PLUGINS": str(tmp_path / "missing.py")})
    assert broken.returncode == 0  # a broken plugin file breaks nothing else
    unknown = cli("run", "--codecs", "posterise-test", "--data", "phantom", env={"BENCH_PLUGINS": str(tmp_path / "missing.py")})
    assert unknown.returncode == 2 and "missing.py: import failed: FileNotFoundError" in unknown.stderr
