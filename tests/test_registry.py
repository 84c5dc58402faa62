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
