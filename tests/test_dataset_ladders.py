"""A dataset may set its own default rate ladder per codec (colin27-lesions reaches lower and higher
rates than the everyday ladders, where small lesions break); --quality still wins."""

from __future__ import annotations

from types import SimpleNamespace

from bench.datasets.base import Dataset, Sample
from bench.runner import default_qualities

import numpy as np


def _data(extra):
    return Dataset(name="d", samples=[Sample(id="a", image=np.zeros((8, 8), np.uint8), bit_depth=8)], extra=extra)


def test_a_dataset_ladder_replaces_the_codec_default_only_for_the_codecs_it_names():
    jpeg = SimpleNamespace(name="jpeg", scale=SimpleNamespace(defaults=(30, 50)))
    webp = SimpleNamespace(name="webp", scale=SimpleNamespace(defaults=(10, 90)))
    data = _data({"qualities": {"jpeg": [5, 20, 95]}})
    assert default_qualities(jpeg, "jpeg", data) == [5, 20, 95]
    assert default_qualities(jpeg, "jpeg:subsampling=444", data) == [5, 20, 95]  # options do not change the ladder
    assert default_qualities(webp, "webp", data) == [10, 90]
    assert default_qualities(jpeg, "jpeg", _data({})) == [30, 50]


def test_colin27_lesions_ladders_are_valid_qualities_of_every_codec_they_name():
    from bench import registry
    from bench.datasets.colin27_lesions import QUALITIES

    for name, ladder in QUALITIES.items():
        scale = registry.get("codec", name).scale
        assert [scale.check(name, q) for q in ladder] == ladder and len(set(ladder)) == len(ladder) >= 7
