"""File-based dataset loaders (folder, yolo, coco, nifti, dicom) on small trees built here, and the
shared validation: every bad input is a one-line DatasetError naming the offending file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.datasets.coco import open_coco
from bench.datasets.dicom import open_dicom
from bench.datasets.folder import open_folder
from bench.datasets.imageio import slab_splits, split_options
from bench.datasets.nifti import open_nifti
from bench.datasets.yolo import open_yolo
from bench.errors import DatasetError

RNG = np.random.default_rng(0)


def rgb(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def disk(h=40, w=48, cy=20, cx=24, r=9):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def save(path, array, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def expect_error(fn, *names):
    with pytest.raises(DatasetError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message
    return message


# ------------------------------------------------------------------ options / splits

def test_option_syntax():
    assert split_options("/a/b.nii.gz,label=/a/c.nii.gz,window=-160:240", {"label": "", "window": ""}, "x", "u") == (
        "/a/b.nii.gz", {"label": "/a/c.nii.gz", "window": "-160:240"})
    assert split_options("/a,b/dir", {}, "x", "u") == ("/a,b/dir", {})
    expect_error(lambda: split_options("/a,bogus=1", {"label": ""}, "nifti", "u"), "bogus", "label")


def test_slab_splits_leave_gaps():
    out = slab_splits(20, gap=2)
    assert out == ["train"] * 11 + [None] * 2 + ["val"] * 2 + [None] * 2 + ["test"] * 3
    assert slab_splits(10, gap=2).count("val") == 1  # every split keeps a slice
    many = slab_splits(100, gap=1, slabs=4)
    assert many[25] is None and many[26] == "train" and many.count("test") == 20


# ------------------------------------------------------------------ folder

def kvasir_tree(root):
    """RGB PNG/JPEG images with 0/255 PNG masks and a JPEG mask (as Kvasir-SEG ships them)."""
    for i, stem in enumerate(["a", "b", "c", "d"]):
        save(root / "images" / f"{stem}.{'jpg' if i % 2 else 'png'}", rgb(seed=i))
        m = disk(cy=15 + i, cx=20 + i).astype(np.uint8) * 255
        if i == 1:
            save(root / "masks" / f"{stem}.jpg", m, quality=60)  # JPEG ringing around 0/255
        else:
            save(root / "masks" / f"{stem}.png", m)
    (root / "splits.json").write_text(json.dumps({"train": ["a", "b"], "val": ["c"], "test": ["d.png"]}))
    (root / "classes.json").write_text(json.dumps(["background", "polyp"]))
    return root


def test_folder_kvasir_layout(tmp_path):
    ds = open_folder(str(kvasir_tree(tmp_path / "kvasir")))
    assert ds.seg_classes == ["background", "polyp"]
    assert ds.split_counts() == {"train": 2, "val": 1, "test": 1}
    assert ds.bit_depths == [8] and ds.modalities == ["endoscopy"]
    by_id = {s.id: s for s in ds.samples}
    for s in ds.samples:
        assert s.image.shape == (40, 48, 3) and s.image.dtype == np.uint8
        assert set(np.unique(s.mask)) <= {0, 1}
    jpeg_mask = by_id["b"].mask
    truth = disk(cy=16, cx=21)
    assert (jpeg_mask.astype(bool) != truth).sum() <= 3  # thresholded at 128, not "anything non-zero"
    assert ds.tasks == ["seg"]
    assert open_folder(str(tmp_path / "kvasir")).fingerprint == ds.fingerprint


def test_folder_16bit_tiff_split_subfolders_and_classes(tmp_path):
    root = tmp_path / "ct"
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for i in range(n):
            img = (RNG.integers(0, 3000, (32, 36))).astype(np.uint16)
            save(root / split / "images" / f"{split}{i}.tif", img)
            mask = np.zeros((32, 36), np.uint8)
            mask[4:10, 4:10] = 1
            mask[20:24, 20:30] = 2
            save(root / split / "masks" / f"{split}{i}.png", mask)
    with pytest.warns(UserWarning, match="coded as 12-bit"):  # a 16-bit container, values within 12 bits
        ds = open_folder(f"{root},modality=CT,classes=liver+tumor")
    assert ds.split_counts() == {"train": 3, "val": 1, "test": 2}
    assert ds.bit_depths == [12]  # largest value ≤ 4095
    assert ds.samples[0].image.dtype == np.uint16 and ds.samples[0].image.ndim == 2
    assert ds.seg_classes == ["background", "liver", "tumor"] and ds.modalities == ["CT"]
    assert int(ds.samples[0].mask.max()) == 2
    assert open_folder(f"{root},bit_depth=16").bit_depths == [16]


def test_folder_isic_suffix_hash_split_palette_rgba(tmp_path):
    root = tmp_path / "isic"
    for i in range(12):
        stem = f"ISIC_{i:07d}"
        save(root / "images" / f"{stem}.png", np.dstack([rgb(seed=i), np.full((40, 48), 255, np.uint8)]))  # RGBA
        save(root / "masks" / f"{stem}_segmentation.png", disk().astype(np.uint8) * 255)
    pal = Image.fromarray(np.arange(40 * 48, dtype=np.uint8).reshape(40, 48) % 4, "P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    pal.save(root / "images" / "ISIC_pal.png")
    save(root / "masks" / "ISIC_pal_segmentation.png", np.zeros((40, 48), np.uint8))
    ds = open_folder(str(root))
    assert ds.modalities == ["dermoscopy"] and ds.seg_classes == ["background", "foreground"]
    assert all(s.image.shape == (40, 48, 3) for s in ds.samples)  # RGBA → RGB, palette → RGB
    assert set(ds.split_counts()) <= {"train", "val", "test"} and len(ds.samples) == 13
    assert {s.id: s.split for s in open_folder(str(root)).samples} == {s.id: s.split for s in ds.samples}
    assert open_folder(f"{root},split=test").split_counts() == {"test": 13}


def test_folder_requires_path_and_directory(tmp_path):
    expect_error(lambda: open_folder(None), "--data folder:/path/to/dir")
    expect_error(lambda: open_folder(str(tmp_path / "nope")), str(tmp_path / "nope"))


def test_folder_size_mismatch(tmp_path):
    root = kvasir_tree(tmp_path / "k")
    save(root / "masks" / "c.png", np.zeros((30, 48), np.uint8))
    expect_error(lambda: open_folder(str(root)), "c.png", "30")


def test_folder_label_out_of_range(tmp_path):
    root = kvasir_tree(tmp_path / "k")
    m = np.zeros((40, 48), np.uint8)
    m[:5, :5] = 3
    save(root / "masks" / "d.png", m)
    expect_error(lambda: open_folder(str(root)), "d.png", "label 3")


def test_folder_empty(tmp_path):
    (tmp_path / "e" / "images").mkdir(parents=True)
    expect_error(lambda: open_folder(str(tmp_path / "e")), str(tmp_path / "e"))


def test_folder_truncated_png(tmp_path):
    root = kvasir_tree(tmp_path / "k")
    data = (root / "images" / "c.png").read_bytes()
    (root / "images" / "c.png").write_bytes(data[: len(data) // 2])
    expect_error(lambda: open_folder(str(root)), "c.png")


def test_folder_mixed_bit_depths(tmp_path):
    root = tmp_path / "mixed"
    save(root / "images" / "a8.png", np.zeros((16, 16), np.uint8))
    save(root / "images" / "b16.png", np.full((16, 16), 3000, np.uint16))
    expect_error(lambda: open_folder(str(root)), "b16.png", "bit")


def test_folder_orphan_mask_and_missing_mask(tmp_path):
    root = kvasir_tree(tmp_path / "k")
    save(root / "masks" / "zzz.png", np.zeros((40, 48), np.uint8))
    expect_error(lambda: open_folder(str(root)), "zzz.png")
    (root / "masks" / "zzz.png").unlink()
    (root / "masks" / "a.png").unlink()
    expect_error(lambda: open_folder(str(root)), "a.png")


def test_folder_value_above_declared_depth(tmp_path):
    root = tmp_path / "d"
    save(root / "images" / "x.png", np.full((8, 8), 5000, np.uint16))
    expect_error(lambda: open_folder(f"{root},bit_depth=12"), "x.png", "5000")


# ------------------------------------------------------------------ yolo

def yolo_tree(root):
    for split, stems in (("train", ["t0", "t1"]), ("val", ["v0"]), ("test", ["s0"])):
        for stem in stems:
            save(root / "images" / split / f"{stem}.jpg", rgb(50, 100))
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "train" / "t0.txt").write_text("1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.2 0.2\n")
    (root / "labels" / "train" / "t1.txt").write_text("")
    (root / "labels" / "val" / "v0.txt").write_text("0 0.995 0.5 0.02 0.2\n")  # right edge 1.005*w: 0.5 px over
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n  0: polyp\n  1: tool\n")
    return root


@pytest.mark.filterwarnings("ignore:.*split .* has no (pixel|box) of class:bench.errors.DataWarning")  # tiny fixture splits; the warning is tested in test_real_data.py
def test_yolo(tmp_path):
    ds = open_yolo(str(yolo_tree(tmp_path / "y") / "data.yaml"))
    assert ds.det_classes == ["polyp", "tool"] and ds.tasks == ["det"]
    assert ds.split_counts() == {"train": 2, "val": 1, "test": 1}
    by_id = {s.id: s for s in ds.samples}
    np.testing.assert_allclose(by_id["t0"].boxes, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-4)
    assert by_id["t0"].labels.tolist() == [1, 0]
    assert len(by_id["s0"].boxes) == 0 and len(by_id["t1"].boxes) == 0  # no label file / empty file
    assert by_id["v0"].boxes[0, 2] == 100  # 0.5 px overshoot clipped
    assert open_yolo(str(tmp_path / "y")).fingerprint == ds.fingerprint  # directory with data.yaml


def test_yolo_box_outside_and_bad_class(tmp_path):
    root = yolo_tree(tmp_path / "y")
    (root / "labels" / "val" / "v0.txt").write_text("0 0.9 0.5 0.4 0.2\n")
    expect_error(lambda: open_yolo(str(root)), "v0.txt", "outside")
    (root / "labels" / "val" / "v0.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    expect_error(lambda: open_yolo(str(root)), "v0.txt", "label 5")
    (root / "labels" / "val" / "v0.txt").write_text("0 0.5 0.5\n")
    expect_error(lambda: open_yolo(str(root)), "v0.txt:1")


def test_yolo_no_yaml_hash_split(tmp_path):
    root = tmp_path / "plain"
    for i in range(5):
        save(root / "images" / f"i{i}.png", rgb(20, 20, seed=i))
    (root / "labels").mkdir()
    (root / "labels" / "i0.txt").write_text("2 0.5 0.5 0.5 0.5\n")
    (root / "classes.txt").write_text("a\nb\nc\n")
    ds = open_yolo(f"{root},split=val")
    assert ds.det_classes == ["a", "b", "c"] and ds.split_counts() == {"val": 5}


# ------------------------------------------------------------------ coco

def coco_tree(root, bbox=(10, 5, 20, 10)):
    save(root / "images" / "one.png", rgb(40, 48, seed=1))
    save(root / "images" / "two.png", rgb(40, 48, seed=2))
    data = {
        "images": [{"id": 1, "file_name": "one.png", "width": 48, "height": 40},
                   {"id": 2, "file_name": "two.png", "width": 48, "height": 40}],
        "categories": [{"id": 7, "name": "polyp"}, {"id": 3, "name": "instrument"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": list(bbox), "area": 200, "iscrowd": 0,
             "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [0, 20, 8, 8], "area": 64, "iscrowd": 0,
             "segmentation": [[0, 20, 8, 20, 8, 28, 0, 28]]},
        ],
    }
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_val.json").write_text(json.dumps(data))
    return root / "annotations" / "instances_val.json"


def test_coco_polygons_and_category_mapping(tmp_path):
    ds = open_coco(str(coco_tree(tmp_path / "c")))
    assert ds.det_classes == ["instrument", "polyp"]  # by ascending category id (3, 7)
    assert ds.seg_classes == ["background", "instrument", "polyp"]
    assert ds.split_counts() == {"val": 2}  # from the file name
    one = {s.id: s for s in ds.samples}["one"]
    np.testing.assert_allclose(one.boxes, [[10, 5, 30, 15], [0, 20, 8, 28]])
    assert one.labels.tolist() == [1, 0]
    assert one.mask[10, 20] == 2 and one.mask[24, 4] == 1 and one.mask[35, 40] == 0
    assert abs(int((one.mask == 2).sum()) - 200) <= 40
    two = {s.id: s for s in ds.samples}["two"]
    assert len(two.boxes) == 0 and not two.mask.any()


def test_coco_pil_polygon_fallback(tmp_path, monkeypatch):
    import bench.datasets.coco as coco

    path = coco_tree(tmp_path / "c")
    with_backend = {s.id: s.mask for s in open_coco(str(path)).samples}
    monkeypatch.setattr(coco, "_mask_backend", lambda: None)
    fallback = {s.id: s.mask for s in open_coco(f"{path},split=test").samples}
    assert (with_backend["one"] != fallback["one"]).sum() <= 60  # edge pixels may differ


def test_coco_box_outside_and_missing_image(tmp_path):
    path = coco_tree(tmp_path / "c", bbox=(40, 5, 20, 10))
    expect_error(lambda: open_coco(str(path)), "instances_val.json", "outside")
    path = coco_tree(tmp_path / "d")
    (tmp_path / "d" / "images" / "two.png").unlink()
    expect_error(lambda: open_coco(str(path)), "two.png")


# ------------------------------------------------------------------ nifti

def nifti_pair(root, shape=(24, 20, 30), label_shape=None):
    import nibabel as nib

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    hu = rng.integers(-1000, 400, shape).astype(np.int16)
    label = np.zeros(label_shape or shape, np.uint8)
    label[5:15, 5:12, 10:20] = 1
    label[8:10, 6:8, 12:14] = 2
    nib.save(nib.Nifti1Image(hu, np.eye(4)), root / "ct.nii.gz")
    nib.save(nib.Nifti1Image(label, np.eye(4)), root / "ct_seg.nii.gz")
    return root, hu, label


@pytest.mark.filterwarnings("ignore:.*split .* has no (pixel|box) of class:bench.errors.DataWarning")  # tiny fixture splits; the warning is tested in test_real_data.py
def test_nifti_pair_options(tmp_path):
    root, hu, label = nifti_pair(tmp_path / "n")
    ds = open_nifti(f"{root / 'ct.nii.gz'},label={root / 'ct_seg.nii.gz'},axis=2,classes=liver+tumor,skip_empty=0")
    assert ds.seg_classes == ["background", "liver", "tumor"] and ds.bit_depths == [12] and ds.modalities == ["CT"]
    counts = ds.split_counts()
    assert counts == {"train": 18, "val": 3, "test": 5}  # 30 slices minus two gaps of 2
    s = {x.id: x for x in ds.samples}["ct-z012"]
    assert s.image.shape == (20, 24)  # (y, x) with anterior up
    np.testing.assert_array_equal(s.image, (hu[:, :, 12].T[::-1] + 1024).astype(np.uint16))  # HU + 1024
    np.testing.assert_array_equal(s.mask, label[:, :, 12].T[::-1])
    assert ds.extra["intensity"]["offset"] == 1024

    windowed = open_nifti(f"{root / 'ct.nii.gz'},window=-160:240,skip_empty=1,gap=0,split=test")  # label auto-found
    assert windowed.split_counts() == {"test": 10} and windowed.bit_depths == [12]
    img = {x.id: x for x in windowed.samples}["ct-z012"].image
    expected = np.clip(np.round((hu[:, :, 12].T[::-1] + 160.0) * 4095 / 400), 0, 4095)
    np.testing.assert_array_equal(img, expected.astype(np.uint16))


def test_nifti_directory_and_errors(tmp_path):
    import nibabel as nib

    root = tmp_path / "d"
    for case in ("a", "b", "c"):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(np.full((8, 8, 4), 100, np.int16), np.eye(4)), root / "images" / f"{case}_0000.nii.gz")
        nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.uint8), np.eye(4)), root / "labels" / f"{case}.nii.gz")
    ds = open_nifti(str(root))
    assert len(ds.samples) == 12 and ds.bit_depths == [8]
    assert all(len({s.split for s in ds.samples if s.id.startswith(c)}) == 1 for c in "abc")  # whole volumes
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 5), np.uint8), np.eye(4)), root / "labels" / "b.nii.gz")
    expect_error(lambda: open_nifti(str(root)), "b.nii.gz")
    data = (root / "labels" / "a.nii.gz").read_bytes()
    (root / "labels" / "a.nii.gz").write_bytes(data[: len(data) // 2])
    expect_error(lambda: open_nifti(str(root)), "a.nii.gz")
    expect_error(lambda: open_nifti(f"{root},window=5"), "window")


# ------------------------------------------------------------------ dicom

def write_dicom(path, pixels, *, series, sop, z, intercept=-1024.0, slope=1.0, bits=12, signed=False):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", series
    ds.Modality, ds.InstanceNumber = "CT", int(z) + 1
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, float(z)], [1, 0, 0, 0, 1, 0]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, int(signed)
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)


def write_seg(path, sops, frames, label="tumor"):
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.pixels import pack_bits
    from pydicom.uid import ExplicitVRLittleEndian

    seg_class = "1.2.840.10008.5.1.4.1.1.66.4"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = seg_class, "9.9.9"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = seg_class, "9.9.9", "SEG"
    ds.SeriesInstanceUID, ds.StudyInstanceUID = "9.9", "1.2.3"
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 1, 0, 0
    ds.SegmentationType = "BINARY"
    segment = Dataset()
    segment.SegmentNumber, segment.SegmentLabel = 1, label
    ds.SegmentSequence = [segment]
    items = []
    for sop in sops:
        src, deriv, ident, item = Dataset(), Dataset(), Dataset(), Dataset()
        src.ReferencedSOPInstanceUID = sop
        deriv.SourceImageSequence = [src]
        ident.ReferencedSegmentNumber = 1
        item.DerivationImageSequence, item.SegmentIdentificationSequence = [deriv], [ident]
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items
    ds.PixelData = pack_bits(frames.astype(np.uint8))
    ds.save_as(str(path), enforce_file_format=True)


def dicom_series(root, n=10, shape=(16, 12)):
    rng = np.random.default_rng(5)
    raws = []
    for k in range(n):
        raw = rng.integers(0, 1400, shape).astype(np.uint16)  # HU -1024..375
        raws.append(raw)
        write_dicom(root / f"slice{k:02d}.dcm", raw, series="1.2.3.4", sop=f"1.2.3.4.{k}", z=k)
    return raws


@pytest.mark.filterwarnings("ignore:.*split .* has no (pixel|box) of class:bench.errors.DataWarning")  # tiny fixture splits; the warning is tested in test_real_data.py
def test_dicom_rescale_and_seg(tmp_path):
    root = tmp_path / "study"
    raws = dicom_series(root)
    frames = np.zeros((2, 16, 12), bool)
    frames[0, 2:6, 3:7] = True
    frames[1, 8:10, 1:4] = True
    write_seg(root / "seg.dcm", ["1.2.3.4.3", "1.2.3.4.8"], frames)
    ds = open_dicom(str(root))
    assert ds.bit_depths == [12] and ds.modalities == ["CT"] and ds.seg_classes == ["background", "tumor"]
    by_id = {s.id: s for s in ds.samples}
    np.testing.assert_array_equal(by_id["slice03"].image, raws[3])  # HU + 1024 == raw for intercept -1024
    assert ds.extra["intensity"]["offset"] == 1024
    np.testing.assert_array_equal(by_id["slice03"].mask, frames[0].astype(np.uint8))
    assert not by_id["slice00"].mask.any()
    counts = ds.split_counts()
    assert counts == {"train": 4, "val": 1, "test": 1}  # contiguous slabs, two gaps of 2

    windowed = open_dicom(f"{root},window=file,gap=0")
    expected = np.clip(np.round((raws[3].astype(float) - 1024 + 160) * 4095 / 400), 0, 4095)
    np.testing.assert_array_equal({s.id: s for s in windowed.samples}["slice03"].image, expected)


def test_dicom_negative_shift_and_png_masks(tmp_path):
    root = tmp_path / "signed"
    for k in range(4):
        raw = np.full((8, 8), -2000 + 100 * k, np.int16)
        raw[0, 0] = 1000
        write_dicom(root / f"im{k}.dcm", raw, series="5.6", sop=f"5.6.{k}", z=k, intercept=0, bits=16, signed=True)
        mask = np.zeros((8, 8), np.uint8)
        mask[2:4, 2:4] = 255
        save(root / "masks" / (f"im{k}.png" if k % 2 else f"5.6.{k}.png"), mask)
    with pytest.warns(UserWarning, match="BitsStored is 16 but .* within 0..3000: coded as 12-bit"):
        ds = open_dicom(f"{root},split=test")
    s0 = {s.id: s for s in ds.samples}["im0"]
    assert ds.extra["intensity"]["offset"] == 2000 and s0.image[1, 1] == 0 and s0.image[0, 0] == 3000
    assert ds.bit_depths == [12] and s0.mask.sum() == 4 and ds.seg_classes == ["background", "foreground"]


def test_dicom_truncated_and_empty(tmp_path):
    root = tmp_path / "t"
    dicom_series(root, n=3)
    data = (root / "slice01.dcm").read_bytes()
    (root / "slice01.dcm").write_bytes(data[: len(data) // 2])
    expect_error(lambda: open_dicom(str(root)), "slice01.dcm")
    (tmp_path / "empty").mkdir()
    expect_error(lambda: open_dicom(str(tmp_path / "empty")), str(tmp_path / "empty"))
