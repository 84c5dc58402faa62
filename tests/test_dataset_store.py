"""colin27-aal and the phantom are built once and kept in the store: the stored dataset must be
the built one, field for field, and any change to its source files must build it afresh."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import bench.datasets.colin27 as colin27
import bench.datasets.phantom as phantom
from bench.datasets.store import store_dir
from bench.errors import BenchError


@pytest.fixture
def templates(tmp_path):
    """A private copy of the mricron templates, so a test may touch their times."""
    if not all((colin27.DEFAULT_DIR / f).is_file() for f in colin27.FILES.values()):
        pytest.skip("colin27-aal needs mricron-data")
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in colin27.FILES.values():
        shutil.copy2(colin27.DEFAULT_DIR / name, folder / name)
    return folder


def _counting_builds(monkeypatch) -> list:
    builds = []
    real = colin27._build

    def build(folder):
        builds.append(folder)
        return real(folder)

    monkeypatch.setattr(colin27, "_build", build)
    return builds


def _assert_same(a, b) -> None:
    assert (a.name, a.seg_classes, a.det_classes, a.description, a.source, a.extra) == \
           (b.name, b.seg_classes, b.det_classes, b.description, b.source, b.extra)
    assert [(s.id, s.split, s.bit_depth, s.modality) for s in a.samples] == [(s.id, s.split, s.bit_depth, s.modality) for s in b.samples]
    for x, y in zip(a.samples, b.samples):
        for field in ("image", "mask", "boxes", "labels"):
            u, v = getattr(x, field), getattr(y, field)
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), (x.id, field)
    assert a.fingerprint == b.fingerprint


def test_the_stored_dataset_is_the_built_one(templates, monkeypatch):
    builds = _counting_builds(monkeypatch)
    built = colin27.open_colin27(str(templates))
    stored = colin27.open_colin27(str(templates))
    assert len(builds) == 1 and len(list(store_dir().glob("colin27-aal-*.npz"))) == 1
    _assert_same(built, stored)
    assert stored.fingerprint == "5b10900b25363c2c"  # the fingerprint every shipped checkpoint names


def test_a_touched_source_file_builds_afresh(templates, monkeypatch):
    builds = _counting_builds(monkeypatch)
    colin27.open_colin27(str(templates))
    names = templates / colin27.FILES["names"]
    stat = names.stat()
    os.utime(names, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    colin27.open_colin27(str(templates))
    assert len(builds) == 2


def test_an_unreadable_entry_is_rebuilt_and_a_bad_source_still_fails(templates, monkeypatch):
    builds = _counting_builds(monkeypatch)
    first = colin27.open_colin27(str(templates))
    (entry,) = store_dir().glob("colin27-aal-*.npz")
    entry.write_bytes(entry.read_bytes()[:1000])  # cut short, as a full disk would leave it
    _assert_same(first, colin27.open_colin27(str(templates)))
    assert len(builds) == 2
    (templates / colin27.FILES["labels"]).write_bytes(b"not a volume")
    with pytest.raises(BenchError, match="cannot read"):
        colin27.open_colin27(str(templates))


def test_the_stored_phantom_is_the_generated_one_per_variant_list(monkeypatch):
    builds = []
    real = phantom._build
    monkeypatch.setattr(phantom, "_build", lambda variants: builds.append(variants) or real(variants))
    generated = phantom.open_phantom()
    stored = phantom.open_phantom()
    picked = phantom.open_phantom("ct12,endo")
    assert builds == [phantom.VARIANTS, ("ct12", "endo")]
    _assert_same(generated, stored)
    _assert_same(picked, real(("ct12", "endo")))
    assert stored.fingerprint == "8668ea4cad4e5297"  # the one results/reference/check/phantom names
    assert len(list(store_dir().glob("phantom-*.npz"))) == 2
