"""The segmentation task: metrics on hand-made masks, the network, training, loading, loss gradients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench.train.request import train_task  # noqa: E402
from bench.datasets.base import Sample  # noqa: E402
from bench.datasets.phantom import open_phantom  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.tasks.base import TrainConfig  # noqa: E402
from bench.tasks.seg.metrics import SegMetric, hd95_backend  # noqa: E402
from bench.tasks.seg.model import UNet  # noqa: E402
from bench.tasks.seg.task import SegmentationTask  # noqa: E402
from bench.tasks.seg.predict import normalise  # noqa: E402

COLIN27_DIR = Path("/usr/share/mricron/templates")
REPO = Path(__file__).resolve().parent.parent
TINY = {"base": 4, "steps_per_epoch": 2, "time_budget_s": None, "hd95_at_end": False, "threads": 1}


def _sample(mask: np.ndarray, sid: str = "a") -> Sample:
    return Sample(id=sid, image=np.zeros(mask.shape, np.uint8), bit_depth=8, mask=mask)


def _hand_made():
    """Image 1: class a TP 2 / FP 2 / FN 2, class b missed; image 2: perfect, class b absent."""
    gt1 = np.zeros((4, 4), np.uint8)
    gt1[0, :] = 1
    gt1[3, :2] = 2
    pred1 = np.zeros((4, 4), np.uint8)
    pred1[0, :2] = 1
    pred1[1, :2] = 1
    gt2 = np.zeros((4, 4), np.uint8)
    gt2[2, 1:4] = 1
    return [(gt1, pred1), (gt2, gt2.copy())]


def test_metrics_exact_values_on_hand_made_masks():
    metric = SegMetric(["background", "a", "b"], hd95=False)
    for i, (gt, pred) in enumerate(_hand_made()):
        metric.update([pred], [_sample(gt, f"s{i}")])
    scores = metric.compute()
    # mean(0.5, 0), mean(1/3, 0); b is in the ground truth, so MONAI's reading counts its 0 too
    assert scores.per_image[0] == pytest.approx({"dice": 0.25, "iou": 1 / 6, "dice_monai": 0.25})
    assert scores.per_image[1] == pytest.approx({"dice": 1.0, "iou": 1.0, "dice_monai": 1.0})  # b undefined: skipped
    s = scores.summary
    assert s["dice"] == pytest.approx(0.625)
    assert s["dice_monai"] == pytest.approx((0.25 + 1) / 2)  # classes first, then images
    assert s["iou"] == pytest.approx((1 / 6 + 1) / 2)
    assert s["dice_a"] == pytest.approx(0.75) and s["dice_b"] == pytest.approx(0.0)
    assert s["iou_a"] == pytest.approx((1 / 3 + 1) / 2)
    # split-level IoU: background 21/27, a 5/9, b 0
    assert s["miou"] == pytest.approx((7 / 9 + 5 / 9 + 0) / 3)
    assert s["fg_miou"] == pytest.approx((5 / 9 + 0) / 2)
    assert np.array(scores.extra["confusion"]).sum() == 32
    metric.reset()
    assert metric.compute().per_image == []


def test_image_without_foreground_scores_one_and_wrong_shape_is_refused():
    metric = SegMetric(["background", "a"], hd95=False)
    empty = np.zeros((3, 3), np.uint8)
    metric.update([empty], [_sample(empty)])
    row = metric.compute().per_image[0]
    assert (row["dice"], row["iou"]) == (1.0, 1.0) and np.isnan(row["dice_monai"])  # MONAI: nothing to score
    with pytest.raises(BenchError, match="differ in shape"):
        metric.update([np.zeros((2, 3), np.uint8)], [_sample(empty)])


@pytest.mark.skipif(hd95_backend() is None, reason="MONAI not installed: HD95 is left out")
def test_hd95_of_a_shifted_square():
    gt = np.zeros((20, 20), np.uint8)
    gt[5:10, 5:10] = 1
    pred = np.roll(gt, 2, axis=0)
    metric = SegMetric(["background", "a"], hd95=True)
    metric.update([pred], [_sample(gt)])
    assert metric.compute().per_image[0]["hd95"] == pytest.approx(2.0)


def test_the_bootstrap_interval_of_a_mean_contains_it_and_is_reproducible():
    from bench.analysis.curves import draws, mean_interval

    values = np.random.default_rng(1).uniform(0.5, 0.9, size=30)
    lo, hi = mean_interval(values, draws(30))
    assert lo < values.mean() < hi and hi - lo < 0.2
    assert mean_interval(values, draws(30)) == (lo, hi)
    assert mean_interval(np.array([0.7, 0.7, np.nan]), draws(3)) == pytest.approx((0.7, 0.7))
    assert all(np.isnan(mean_interval(np.array([np.nan]), draws(1))))


@pytest.mark.parametrize("channels", [1, 3])
def test_unet_pads_inside_and_crops_back(channels):
    model = UNet(channels, 5, base=4).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, 37, 51))
    assert out.shape == (2, 5, 37, 51)


def test_normalise_by_bit_depth_and_channels():
    x = normalise([np.full((2, 2), 4095, np.uint16), np.zeros((2, 2), np.uint16)], [12, 12], 1)
    assert x.shape == (2, 1, 2, 2) and float(x.max()) == 1.0 and float(x.min()) == 0.0
    rgb = normalise([np.full((2, 2, 3), 255, np.uint8)], [8], 3)
    assert rgb.shape == (1, 3, 2, 2) and float(rgb.min()) == 1.0


def test_deep_supervision_trains_its_heads_and_leaves_the_network_as_it_was():
    from bench.tasks.seg.train import DeepSupervision, seg_loss

    torch.manual_seed(0)
    model = UNet(1, 3, base=4).train()
    deep = DeepSupervision(model, 0.5)
    x, y = torch.rand(2, 1, 37, 51), torch.randint(0, 3, (2, 37, 51))
    logits = model(x)
    assert [f.shape[-2:] for f in deep.features] == [(6, 8), (12, 16), (24, 32)]  # 1/8, 1/4, 1/2 of the 48×64 pad
    aux = deep.loss(y, None, 1.0)
    (seg_loss(logits, y) + aux).backward()
    assert deep.features == [] and float(aux.detach()) > 0
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in deep.heads.parameters())
    with torch.no_grad():
        model.eval()(x)
    assert deep.features == []  # evaluation keeps nothing
    assert set(model.state_dict()) == set(UNet(1, 3, base=4).state_dict())  # the stored network has no heads


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny network trained briefly on phantom:mr8 (seconds on a CPU)."""
    dataset = open_phantom("mr8")
    out = tmp_path_factory.mktemp("seg") / "seg-phantom.safetensors"
    manifest = train_task(SegmentationTask, dataset, TrainConfig(out=out, epochs=2, batch_size=4, seed=0, options=dict(TINY)))
    return dataset, out, manifest


def test_smoke_training_writes_checkpoint_manifest_log_and_config(trained):
    dataset, out, manifest = trained
    for suffix in (".safetensors", ".json", ".csv", ".config.yaml"):
        assert out.with_suffix(suffix).is_file(), suffix
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["dataset_fingerprint"] == dataset.fingerprint == manifest["dataset_fingerprint"]
    for key in ("task", "dataset", "config", "seed", "metrics", "packages", "train_seconds", "device", "command"):
        assert key in on_disk, key
    assert set(on_disk["metrics"]) >= {"val", "test", "selected_epoch"}
    assert "dice_organ" in on_disk["metrics"]["test"] and "iou_lesion" in on_disk["metrics"]["val"]
    log = out.with_suffix(".csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 1 + 2 * 2  # header + 2 epochs of 2 steps
    assert sum(1 for row in log[1:] if row.split(",")[log[0].split(",").index("val_dice")]) == 2  # validated once per epoch
    assert on_disk["precision"] in ("bf16", "fp32") and on_disk["metrics"]["selected_step"] in (2, 4)


def test_task_from_checkpoint_evaluates(trained):
    dataset, out, _ = trained
    task = SegmentationTask(dataset, checkpoint=str(out))
    samples = dataset.split("test")
    scores = task.evaluate([s.image for s in samples], samples)
    assert len(scores.per_image) == len(samples)
    expected = {"dice", "iou", "dice_monai"} | ({"hd95"} if hd95_backend() is not None else set())
    assert set(scores.per_image[0]) == expected
    assert 0.0 <= scores.summary["dice"] <= 1.0 and "dice_lo" not in scores.summary  # intervals: analysis's job
    assert {"miou", "fg_miou", "dice_organ", "dice_lesion"} <= set(scores.summary)
    assert task.model_id() == SegmentationTask(dataset, checkpoint=str(out)).model_id()


def test_loss_gradients_reach_the_input_images(trained):
    dataset, out, _ = trained
    task = SegmentationTask(dataset, checkpoint=str(out))
    samples = dataset.split("train")[:2]
    images = normalise([s.image for s in samples], [s.bit_depth for s in samples], 1).requires_grad_(True)
    loss = task.loss(images, [s.mask for s in samples])
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in task.model.parameters())  # the network stays frozen


def test_checkpoint_of_other_data_is_refused(trained):
    _, out, _ = trained
    with pytest.raises(BenchError, match="fingerprint"):
        SegmentationTask(open_phantom("ct12"), checkpoint=str(out))


def test_supports_names_the_train_command_and_finds_weights_dir(trained, tmp_path, monkeypatch):
    dataset, out, _ = trained
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "none"))
    reason = SegmentationTask.supports(dataset)
    assert reason and "bench train-task seg --data phantom" in reason
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(out.parent))
    assert SegmentationTask.supports(dataset) is None
    no_masks = open_phantom("mr8")
    no_masks.seg_classes = None
    assert "no segmentation masks" in SegmentationTask.supports(no_masks)


@pytest.mark.skipif(not (COLIN27_DIR / "ch2.nii.gz").is_file(), reason="mricron-data (Colin27) not installed")
def test_committed_colin27_checkpoint_loads_and_matches_the_data():
    from bench.checkpoints import load_checkpoint
    from bench.datasets.colin27 import open_colin27

    path = REPO / "tasks" / "weights" / "seg-colin27-aal.safetensors"
    state, manifest = load_checkpoint(path)
    dataset = open_colin27()
    assert manifest["dataset_fingerprint"] == dataset.fingerprint
    assert manifest["task"] == "seg" and manifest["dataset"] == "colin27-aal"
    assert path.stat().st_size < 10 * 2**20
    assert set(manifest["inference"]) == {"flip_tta", "min_class_pixels"}
    for suffix in (".json", ".csv", ".config.yaml"):
        assert path.with_suffix(suffix).is_file(), suffix
    task = SegmentationTask(dataset, checkpoint=str(path))
    assert task.model_id()


def test_dice_monai_is_monais_ignore_empty_reading():
    from monai.metrics import DiceMetric
    from torch.nn import functional as F

    rng = np.random.default_rng(3)
    gts, preds = [], []
    for i in range(6):
        gt = rng.integers(0, 3, (16, 16)).astype(np.uint8)
        gt[gt == 2] = 0 if i % 2 else 2  # class 2 missing from half the images
        pred = np.where(rng.random((16, 16)) < 0.7, gt, rng.integers(0, 4, (16, 16))).astype(np.uint8)
        gts.append(gt)
        preds.append(pred)
    metric = SegMetric(["bg", "a", "b", "c"], hd95=False)
    metric.update(preds, [_sample(g, f"s{i}") for i, g in enumerate(gts)])
    ours = metric.compute().summary

    def onehot(masks):
        return F.one_hot(torch.from_numpy(np.stack(masks).astype(np.int64)), 4).permute(0, 3, 1, 2).float()

    monai = DiceMetric(include_background=False, ignore_empty=True)
    monai(onehot(preds), onehot(gts))
    assert ours["dice_monai"] == pytest.approx(float(monai.aggregate()), abs=1e-6)
    assert ours["dice_monai"] > ours["dice"]  # class c is predicted but never present: 0 in ours, skipped by MONAI


def test_patches_centre_on_lesions_as_often_as_asked_and_pad_small_slices():
    from bench.train.seg import crop_patch

    rng = np.random.default_rng(0)
    image = np.arange(100 * 80, dtype=np.uint16).reshape(100, 80) % 251
    mask = np.zeros((100, 80), np.uint8)
    mask[70:73, 10:13] = 1
    hits = 0
    for _ in range(200):
        crop, m = crop_patch(image, mask, 32, 0.7, rng)
        assert crop.shape == (32, 32) and m.shape == (32, 32)
        hits += bool(m.any())
    assert 0.6 < hits / 200 < 0.85  # ~70% centred on the lesion (±8 px keeps it inside), a few random ones hit it too
    small, small_mask = crop_patch(image[:20, :20], mask[:20, :20], 32, 0.7, rng)
    assert small.shape == (32, 32) and not small_mask.any()


def test_noise_augmentation_is_optional_for_lesions_of_a_few_grey_levels():
    import torch

    from bench.tasks.seg.train import augment

    x, y = torch.full((4, 1, 64, 64), 0.5), torch.zeros((4, 64, 64), dtype=torch.long)
    inner = (slice(None), 0, slice(24, 40), slice(24, 40))
    quiet, _ = augment(x, y, torch.Generator().manual_seed(0), noise_max=0.0)
    noisy, _ = augment(x, y, torch.Generator().manual_seed(0), noise_max=0.05)
    assert float(quiet[inner].std(dim=(1, 2)).max()) < 1e-5  # jitter changes the level, not the texture
    assert float(noisy[inner].std(dim=(1, 2)).max()) > 1e-3


def test_lesion_networks_are_selected_on_lesion_sensitivity_and_others_on_dice():
    from bench.tasks.seg.train import selection_figure

    assert selection_figure({"dice": 0.5, "seg_sensitivity": 0.2}) == "seg_sensitivity"
    assert selection_figure({"dice": 0.5, "seg_sensitivity": float("nan")}) == "dice"
    assert selection_figure({"dice": 0.5}) == "dice"
