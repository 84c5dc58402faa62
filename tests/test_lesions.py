"""colin27-lesions: the lesion model does what its docstring says (size, contrast, edge, placement),
the dataset is fixed by seed with enough test lesions and lesion-free images, and its records line up
with its boxes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench.datasets import lesions as lesion_model
from bench.errors import BenchError


def _flat(value=100, shape=(96, 96)):
    image = np.full(shape, value, np.uint8)
    tissue = np.zeros(shape, bool)
    tissue[8:-8, 8:-8] = True
    return image, tissue


def test_a_lesion_has_its_size_contrast_and_a_smooth_edge():
    image, tissue = _flat()
    lesion = lesion_model.Lesion(48.0, 48.0, diameter_mm=10.0, contrast=0.2, axis_ratio=1.0, angle=0.0,
                                 harmonics=((0.0, 0.0),) * len(lesion_model.HARMONICS))
    hybrid, mask, boxes = lesion_model.insert(image, tissue, [lesion])
    assert mask.sum() == pytest.approx(math.pi * 5**2, rel=0.1)  # a 10 mm disk at 1 mm pixels
    assert int(hybrid[48, 48]) == 120 and lesion.amplitude == pytest.approx(20.0)  # 20% above the local mean of 100
    row = hybrid[48, 40:48].astype(int)
    assert list(row) == sorted(row) and 100 < row[3] < 120  # a graded edge, rising towards the centre
    np.testing.assert_array_equal(boxes, [[43, 43, 54, 54]])  # pixels 43..53: the half-height edge lies at radius 5
    assert (hybrid[~mask.astype(bool)] != 100).sum() < 60  # only the rim outside the half-height mask moves


def test_hypo_lesions_darken_and_cnr_is_against_the_noise():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(100, 2.0, (96, 96)), 0, 255).astype(np.uint8)
    tissue = np.ones(image.shape, bool)
    assert lesion_model.noise_sigma(image, tissue) == pytest.approx(2.0, rel=0.2)
    lesion = lesion_model.Lesion(48.0, 48.0, 6.0, -0.1, 1.0, 0.0, ((0.0, 0.0),) * 3)
    hybrid, mask, _ = lesion_model.insert(image, tissue, [lesion])
    assert hybrid[mask == 1].mean() < image[mask == 1].mean() - 7 and lesion.cnr == pytest.approx(10 / 2.0, rel=0.25)


def test_placed_lesions_stay_in_tissue_and_apart():
    image, tissue = _flat(shape=(128, 128))
    rng = np.random.default_rng(3)
    placed = lesion_model.place(rng, tissue, 8)
    assert len(placed) == 8
    _, mask, boxes = lesion_model.insert(image, tissue, placed)
    assert not (mask.astype(bool) & ~tissue).any() and len(boxes) == 8
    lo, hi = lesion_model.DIAMETER_MM
    for a in placed:
        assert lo <= a.diameter_mm <= hi and 0.03 <= abs(a.contrast) <= 0.30
        for b in placed:
            if a is not b:
                assert math.hypot(a.cx - b.cx, a.cy - b.cy) > (a.diameter_mm + b.diameter_mm) / 2


@pytest.fixture(scope="module")
def dataset():
    from bench.datasets.colin27_lesions import open_colin27_lesions

    try:
        return open_colin27_lesions()
    except BenchError as exc:
        pytest.skip(str(exc))


def test_the_dataset_has_enough_test_lesions_and_lesion_free_images(dataset):
    from bench.datasets.colin27 import open_colin27

    test = dataset.split("test")
    lesions = sum(len(s.boxes) for s in test)
    assert lesions >= 1000 and sum(len(s.boxes) == 0 for s in test) >= 10
    assert {s.split for s in dataset.samples} == {"train", "val", "test"}
    base = {s.id: s for s in open_colin27().samples}
    for s in test[:40]:
        records = dataset.extra["lesions"][s.id]
        assert len(records) == len(s.boxes) == len(s.labels) and set(s.labels.tolist()) <= {0}
        assert s.id.split("-")[0] in base and base[s.id.split("-")[0]].split == s.split  # colin27-aal's split
        changed = s.image != base[s.id.split("-")[0]].image
        assert bool(changed.any()) == bool(records)


def test_the_dataset_is_fixed_by_seed(dataset):
    from bench.datasets.colin27 import open_colin27
    from bench.datasets.colin27_lesions import _build

    again = _build(open_colin27())
    assert again.fingerprint == dataset.fingerprint and again.extra["generator_version"] == lesion_model.GENERATOR_VERSION


def test_datasets_show_json_prints_counts_per_split(cli):
    proc = cli("datasets", "show", "phantom", "--json")
    assert proc.returncode == 0, proc.stderr
    splits = json.loads(proc.stdout)["splits"]
    assert {"images", "boxes"} <= set(splits["test"]) and splits["test"]["images"] > 0
