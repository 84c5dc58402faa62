"""Codec speed on the default slice size, measured with pytest-benchmark.

Run `pytest tests/test_benchmarks.py --benchmark-enable` for timings; in the default test run
(benchmarks disabled) each body runs once, so the round trip is still checked.
"""

from __future__ import annotations

import pytest

from bench import registry
from bench.datasets.phantom import make_sample, open_phantom


@pytest.mark.parametrize("name", sorted(registry.available("codec")))
def test_round_trip_speed(benchmark, name):
    codec_cls = registry.get("codec", name)
    data = open_phantom("mr8")
    why_not = codec_cls.dataset_reason(data)
    if why_not:  # learned codecs without weights trained for this data
        pytest.skip(why_not)
    codec = codec_cls()
    codec.for_dataset(data.name, data.fingerprint)
    sample = make_sample("mr8", 0, "test")
    quality = codec.scale.defaults[len(codec.scale.defaults) // 2]

    def round_trip():
        return codec.decode(codec.encode(sample.image, quality, sample.bit_depth))

    decoded = benchmark(round_trip)
    assert decoded.shape == sample.image.shape and decoded.dtype == sample.image.dtype


@pytest.mark.parametrize("name", sorted(n for n in registry.available("codec") if registry.get("codec", n).family == "learned"))
def test_learned_round_trip_speed_on_colin27(benchmark, name):
    """Learned codecs with the weights trained for the default data, on one of its test slices, CPU."""
    from bench.datasets.colin27 import open_colin27
    from bench.errors import BenchError

    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    codec_cls = registry.get("codec", name)
    why_not = codec_cls.dataset_reason(data)
    if why_not:
        pytest.skip(why_not)
    codec = codec_cls()
    codec.for_dataset(data.name, data.fingerprint)
    sample = data.split("test")[0]
    quality = codec.scale.defaults[len(codec.scale.defaults) // 2]

    def round_trip():
        return codec.decode(codec.encode(sample.image, quality, sample.bit_depth))

    decoded = benchmark(round_trip)
    assert decoded.shape == sample.image.shape and decoded.dtype == sample.image.dtype
