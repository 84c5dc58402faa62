"""Real data the other tests never saw: the shapes public CT, MR and NIfTI data take, built here with
pydicom, nibabel and numpy (nothing downloaded), and each wrong-number trap they set.

- A CT written as BitsStored 16 whose values stay below 4096 (most scanners; pydicom's CT_small) is
  coded as 12-bit with a warning, `bit_depth=` overrides, and JPEG 2000's dB targets then mean dB
  against the 12-bit peak.
- A NIfTI volume with empty slices at the top: `skip_empty` drops them before the slab split, and a
  split that lacks a class is a warning.
- A DICOM folder with a CT and an MR series, or two series of different sizes: refused with the list
  of series and how to pick one (`series=`), or read one series at a time.
- A bad mask value in a slice that the split drops: an error all the same.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bench.datasets.dicom import open_dicom
from bench.datasets.imageio import slab_splits
from bench.datasets.nifti import open_nifti
from bench.errors import DatasetError, DataWarning
from test_bad_input import bench, dicom_folder  # noqa: F401  (bench is a fixture)
from test_datasets_loaders import expect_error, save, write_dicom


def ct_slice(k: int, size: int = 64) -> np.ndarray:
    """HU of an abdomen-like slice: air, a body ellipse of soft tissue and fat, a bone ring, noise."""
    rng = np.random.default_rng(k)
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    hu = np.full((size, size), -1000.0)
    body = (xx / 0.45) ** 2 + (yy / 0.35) ** 2 < 1
    hu[body] = 40
    hu[body & ((xx / 0.4) ** 2 + (yy / 0.3) ** 2 > 0.8)] = -100  # subcutaneous fat
    r = np.hypot(xx, yy + 0.1)
    hu[(r > 0.08) & (r < 0.12)] = 1200 + 40 * k  # vertebra
    return hu + rng.normal(0, 15, hu.shape)


def ct_series_16bit(root, n: int = 6) -> list[np.ndarray]:
    """A CT series as scanners write it: BitsStored 16, RescaleIntercept -1024, stored values < 4096."""
    raws = []
    for k in range(n):
        raw = np.clip(np.round(ct_slice(k) + 1024), 0, 4095).astype(np.uint16)
        write_dicom(root / f"ct{k:02d}.dcm", raw, series="1.2.826.0.1", sop=f"1.2.826.0.1.{k}", z=k, bits=16)
        raws.append(raw)
    return raws


# ------------------------------------------------------------------ BitsStored 16, values < 4096

def test_ct_declared_16_bit_with_12_bit_values_is_coded_as_12_bit(tmp_path):
    raws = ct_series_16bit(tmp_path / "ct")
    assert max(int(r.max()) for r in raws) < 4096
    with pytest.warns(DataWarning, match=r"BitsStored is 16 .* coded as 12-bit \(PSNR peak 4095, not 65535\); give bit_depth=16"):
        ds = open_dicom(f"{tmp_path / 'ct'},split=test")
    assert ds.bit_depths == [12] and ds.extra["intensity"]["bit_depth"] == 12
    for sample, raw in zip(ds.samples, raws):
        np.testing.assert_array_equal(sample.image, raw)  # HU + 1024, as stored

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # asked for: no warning
        kept = open_dicom(f"{tmp_path / 'ct'},split=test,bit_depth=16")
    assert kept.bit_depths == [16] and np.array_equal(kept.samples[0].image, raws[0])
    expect_error(lambda: open_dicom(f"{tmp_path / 'ct'},bit_depth=10"), "bit_depth=10", "reach")


def test_db_targets_psnr_peak_codecs_and_display_follow_the_inferred_depth(tmp_path):
    from bench import registry
    from bench.datasets.show import _display
    from bench.quality import psnr

    ct_series_16bit(tmp_path / "ct", n=1)
    with pytest.warns(DataWarning):
        sample = open_dicom(f"{tmp_path / 'ct'},split=test").samples[0]
    jpeg2000 = registry.get("codec", "jpeg2000")()
    sizes, achieved = [], []
    for target in jpeg2000.scale.defaults:  # 26..41 dB: OpenJPEG takes them against the 12-bit peak now
        stream = jpeg2000.encode(sample.image, target, sample.bit_depth)
        sizes.append(len(stream))
        achieved.append(psnr(sample.image, jpeg2000.decode(stream), sample.bit_depth))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes  # six rate points, not one minimal stream
    assert all(abs(a - t) < 4 for a, t in zip(achieved, jpeg2000.scale.defaults)), achieved
    # declared 16-bit, the same targets judged against 65535 would throw the image away:
    at16 = jpeg2000.decode(jpeg2000.encode(sample.image, jpeg2000.scale.defaults[-1], 16))
    assert psnr(sample.image, at16, 12) < achieved[-1] - 10
    for name in ("jpeg", "bpg"):  # 12-bit codecs take it; vvc (8/10-bit) still says unsupported
        registry.get("codec", name)().check(sample.image, registry.get("codec", name).scale.defaults[0], sample.bit_depth)
    assert _display(sample, None).mean() > 0.1  # the contact sheet is not black


def test_ct_sweep_prints_the_warning_and_codes_at_12_bit(bench, tmp_path):  # noqa: F811
    import pandas as pd

    ct_series_16bit(tmp_path / "ct", n=3)
    out = tmp_path / "run"
    code, _, err = bench("run", "--codecs", "jpeg2000,jpeg", "--data", f"dicom:{tmp_path / 'ct'}", "--split", "all",
                         "--task", "none", "--out", out)
    assert code == 0, err
    assert "warning: " in err and "coded as 12-bit" in err
    summary = pd.read_csv(out / "summary.csv")
    j2k = summary[summary.codec == "jpeg2000"]
    assert (j2k.bpp.diff().dropna() > 0).all() and j2k.psnr.between(20, 45).all(), j2k
    assert summary[summary.codec == "jpeg"].n_unsupported.sum() == 0
    assert summary[summary.codec == "reference"].bpp.iloc[0] == 12


# ------------------------------------------------------------------ NIfTI with empty slices at the top

def nifti_top_empty(root, n=60, labelled=40, lesion_until=None):
    import nibabel as nib

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    hu = rng.integers(-1000, 400, (32, 32, n)).astype(np.int16)
    label = np.zeros(hu.shape, np.uint8)
    label[8:24, 8:24, :labelled] = 1
    label[12:16, 12:16, : (lesion_until or labelled)] = 2
    nib.save(nib.Nifti1Image(hu, np.eye(4)), root / "ct.nii.gz")
    nib.save(nib.Nifti1Image(label, np.eye(4)), root / "ct_seg.nii.gz")
    return root / "ct.nii.gz"


@pytest.mark.filterwarnings("ignore:.*split .* has no (pixel|box) of class:bench.errors.DataWarning")  # tiny fixture splits; the warning is tested in test_real_data.py
def test_skip_empty_before_the_split_keeps_every_split_labelled(tmp_path):
    image = nifti_top_empty(tmp_path / "n")
    with pytest.warns(DataWarning, match="the test split .* has no pixel of class 'organ', 'lesion'"):
        before = open_nifti(f"{image},classes=organ+lesion,skip_empty=0")  # every slice: the test slab is the empty top
    assert all(not s.mask.any() for s in before.samples if s.split == "test")
    # issue 26 item 5: by default (labels with foreground) empty slices are skipped before the split
    default = open_nifti(f"{image},classes=organ+lesion")
    assert [s.id for s in default.samples] == [s.id for s in open_nifti(f"{image},classes=organ+lesion,skip_empty=1").samples]

    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # every split has both classes: no warning
        ds = open_nifti(f"{image},classes=organ+lesion,skip_empty=1")
    counts = ds.split_counts()
    assert counts == {"train": 25, "val": 4, "test": 7}  # 40 labelled slices, two gaps of 2
    assert all(s.mask.any() for s in ds.samples)
    assert max(int(s.id.split("-z")[1]) for s in ds.samples) < 40


def test_a_split_lacking_a_class_is_a_warning(tmp_path):
    image = nifti_top_empty(tmp_path / "n", lesion_until=10)  # the lesion only in the lowest slices
    with pytest.warns(DataWarning) as record:
        ds = open_nifti(f"{image},classes=organ+lesion,skip_empty=1")
    lines = [str(w.message) for w in record]
    assert any("the test split (7 images) has no pixel of class 'lesion' (found in train)" in line for line in lines), lines
    assert any("the val split" in line for line in lines) and ds.split_counts()["test"] == 7


# ------------------------------------------------------------------ a DICOM folder with several series

def test_ct_and_mr_series_are_refused_then_read_one_at_a_time(tmp_path):
    root = dicom_folder(tmp_path / "d", sizes=[(16, 12)] * 4, series="1.2.3.4", modality="CT")
    dicom_folder(root, sizes=[(16, 12)] * 3, series="5.6.7", modality="MR")
    message = expect_error(lambda: open_dicom(str(root)), "1.2.3.4 (CT, 4 images", "5.6.7 (MR, 3 images",
                           "series=CT or series=UID")
    assert "differ in modality:" in message

    ct = open_dicom(f"{root},series=CT,split=test")
    assert ct.modalities == ["CT"] and len(ct.samples) == 4 and ct.extra["intensity"]["offset"] == 1024
    assert ct.extra["series"] == ["1.2.3.4"]
    mr = open_dicom(f"{root},series=5.6.7,split=test")  # by UID; MR values kept, no CT shift
    assert mr.modalities == ["MR"] and len(mr.samples) == 3 and mr.extra["intensity"]["offset"] == 0
    raw = np.random.default_rng(0).integers(0, 1400, (16, 12)).astype(np.uint16)
    np.testing.assert_array_equal(mr.samples[0].image, raw)
    expect_error(lambda: open_dicom(f"{root},series=1.2.3.4+5.6.7"), "differ in modality")  # asked for both: still one kind
    expect_error(lambda: open_dicom(f"{root},series=PT"), "series=PT matches no series", "1.2.3.4 (CT")


def test_series_of_different_sizes_are_refused_and_same_kind_series_split_by_series(tmp_path):
    root = dicom_folder(tmp_path / "d", sizes=[(16, 12)] * 4, series="1.2.3.4")
    dicom_folder(root, sizes=[(8, 8)] * 2, series="1.2.3.9")  # a scout next to the axial series
    expect_error(lambda: open_dicom(str(root)), "differ in image size", "1.2.3.4 (CT, 4 images 12×16)",
                 "1.2.3.9 (CT, 2 images 8×8)", "series=UID")
    axial = open_dicom(f"{root},series=1.2.3.4")
    assert len(axial.samples) == 4 and axial.extra["split_mode"] == "slab"

    same = dicom_folder(tmp_path / "s", sizes=[(16, 12)] * 3, series="7.1")
    dicom_folder(same, sizes=[(16, 12)] * 3, series="7.2")
    ds = open_dicom(str(same))
    assert ds.extra["split_mode"] == "series" and len(ds.samples) == 6
    assert all(len({s.split for s in ds.samples if s.id.startswith(uid)}) == 1 for uid in ("7.1-", "7.2-"))


# ------------------------------------------------------------------ a bad mask value where the split does not look

def test_bad_label_in_a_nifti_gap_slice_is_an_error(tmp_path):
    import nibabel as nib

    image = nifti_top_empty(tmp_path / "n", n=30, labelled=30)
    gap = slab_splits(30, 2).index(None)
    label = np.asarray(nib.load(tmp_path / "n" / "ct_seg.nii.gz").dataobj).copy()
    label[0, 0, gap] = 7
    nib.save(nib.Nifti1Image(label, np.eye(4)), tmp_path / "n" / "ct_seg.nii.gz")
    expect_error(lambda: open_nifti(f"{image},classes=organ+lesion"), f"ct_seg.nii.gz slice {gap}", "label 7")


def test_bad_mask_value_in_a_dicom_gap_frame_is_an_error(tmp_path):
    root = dicom_folder(tmp_path / "d", sizes=[(16, 12)] * 10)
    gap = slab_splits(10, 2).index(None)
    (root / "classes.json").write_text(json.dumps(["background", "tumor"]))
    for k in range(10):
        mask = np.zeros((16, 12), np.uint8)
        mask[2:5, 2:5] = 3 if k == gap else 1
        save(root / "masks" / f"1.2.3.4-{k:02d}.png", mask)
    expect_error(lambda: open_dicom(str(root)), f"1.2.3.4-{gap:02d}.png", "label 3")
    with pytest.raises(DatasetError):  # with no gaps it was always caught; now the gap frame is too
        open_dicom(f"{root},gap=0")
