"""The HEVC and VVC encoders run on one thread: `-j N` gives the parallelism, so each worker must
use one core. Their default thread pools gave the same stream on more cores, which is why the
codecs' fingerprints (and so every cached cell) did not change with the limit."""

from __future__ import annotations

import resource
import time

import pytest

from bench import registry
from bench.cells import build_codec
from bench.codecs.classical import hevc, vvc
from bench.datasets.phantom import make_sample
from bench.errors import UnsupportedInput

SAMPLES = [make_sample("mr8", 10, "test"), make_sample("ct12", 10, "test"), make_sample("endo", 10, "test")]


def _streams(name: str) -> list[bytes]:
    codec = build_codec(name)
    streams = []
    for sample in SAMPLES:
        for qp in (27, 42):
            try:
                codec.check(sample.image, qp, sample.bit_depth)
            except UnsupportedInput:
                continue
            streams.append(codec.encode(sample.image, qp, sample.bit_depth))
    return streams


@pytest.mark.parametrize("name, module, default", [("bpg", hevc, "frame-threads=0"), ("vvc", vvc, ())])
def test_one_thread_codes_the_same_stream_as_the_default_pool(name, module, default, monkeypatch):
    if name not in registry.available("codec"):
        pytest.skip(f"{name} unavailable here")
    one_thread = _streams(name)
    monkeypatch.setattr(module, "ONE_THREAD", default)  # the encoder's own choice of threads
    assert len(one_thread) >= 4 and _streams(name) == one_thread


def test_vvc_encoder_uses_one_core():
    """VVenC runs in an ffmpeg child process: its CPU time, against the wall time, says how many
    cores it kept busy (1.9 with its default pool on 2 cores, measured)."""
    if "vvc" not in registry.available("codec"):
        pytest.skip("vvc unavailable here")
    codec = build_codec("vvc")
    image = SAMPLES[0].image
    codec.encode(image, 37, 8)  # the binary paged in
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    for qp in (22, 32, 42):
        codec.encode(image, qp, 8)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu / wall < 1.3, f"VVenC kept {cpu / wall:.2f} cores busy"
