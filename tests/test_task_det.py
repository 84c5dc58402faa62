"""Detection task: mAP on hand-made predictions, offline training/prediction, gradients, checkpoints."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.det.metrics import DetectionMetric, coco_map
from bench.tasks.det.model import to_uint8

CLASSES = ["a", "b", "c"]


def _samples() -> list[Sample]:
    img = np.zeros((100, 120), np.uint8)
    return [
        Sample("s0", img, 8, boxes=np.array([[10, 10, 30, 40], [50, 50, 80, 70]], np.float32), labels=np.array([0, 1])),
        Sample("s1", img, 8, boxes=np.array([[5, 60, 25, 90]], np.float32), labels=np.array([0])),
        Sample("s2", img, 8, boxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64)),
    ]


def _perfect(samples, shift=0.0):
    return [{"boxes": s.boxes + shift, "scores": np.full(len(s.labels), 0.9, np.float32), "labels": s.labels} for s in samples]


def test_map_perfect_predictions_is_one():
    samples = _samples()
    metric = DetectionMetric(CLASSES)
    metric.update(_perfect(samples[:2]), samples[:2])
    metric.update(_perfect(samples[2:]), samples[2:])
    scores = metric.compute()
    assert scores.summary == {key: pytest.approx(1.0) for key in ("map50", "map50_95")}
    assert [d["n_det"] for d in scores.per_image] == [2, 1, 0]
    assert math.isnan(scores.extra["ap50_per_class"]["c"])  # no ground truth: left out of the mean


def test_map_shifted_boxes_score_lower_and_reset():
    samples = _samples()
    metric = DetectionMetric(CLASSES)
    metric.update(_perfect(samples, shift=3.0), samples)
    small = metric.compute().summary
    metric.reset()
    metric.update(_perfect(samples, shift=8.0), samples)
    large = metric.compute().summary
    assert 0 < small["map50_95"] < 1 and small["map50"] == pytest.approx(1.0)  # IoU still ≥ 0.5
    assert large["map50"] < small["map50"] and large["map50_95"] < small["map50_95"]


def test_map_wrong_class_false_positive_and_empty():
    samples = _samples()
    preds = _perfect(samples)
    preds[0] = {"boxes": np.vstack([preds[0]["boxes"], [[60, 10, 90, 30]]]), "scores": np.array([0.5, 0.5, 0.95]),
                "labels": np.array([0, 1, 0])}  # a confident false positive ranks first
    fp = coco_map([(s.image.shape, s.boxes, s.labels) for s in samples],
                  [(p["boxes"], p["scores"], p["labels"]) for p in preds], CLASSES)
    assert 0 < fp["ap50_per_class"]["a"] < 1 and fp["ap50_per_class"]["b"] == pytest.approx(1.0)
    none = coco_map([(s.image.shape, s.boxes, s.labels) for s in samples], [(np.zeros((0, 4)), [], [])] * 3, CLASSES)
    assert none["map50"] == 0.0 and none["map50_95"] == 0.0


def test_to_uint8_scales_bit_depth_and_repeats_gray():
    img = np.array([[0, 4095]], np.uint16)
    out = to_uint8(img, 12)
    assert out.shape == (1, 2, 3) and out.dtype == np.uint8 and out[0, 1, 0] == 255 and out[0, 0, 2] == 0


# -- training and prediction with the network blocked, in a fresh interpreter ----------------

_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []
    def _blocked(kind):
        def refuse(*args, **kwargs):
            attempts.append(kind + " " + repr(args[1:2] if kind.startswith("connect") else args[:1]))
            raise OSError("network blocked by test: " + kind)
        return refuse
    socket.socket.connect = _blocked("connect")
    socket.socket.connect_ex = _blocked("connect_ex")
    socket.create_connection = _blocked("create_connection")
    socket.getaddrinfo = _blocked("getaddrinfo")

    from bench.datasets.phantom import open_phantom
    from bench.tasks.base import TrainConfig
    from bench.tasks.det.task import DetectionTask
    from bench.train.request import train_task

    out = sys.argv[1]
    ds = open_phantom("mr8")
    manifest = train_task(DetectionTask, ds, TrainConfig(out=out, epochs=1, batch_size=4, image_size=64,
                                                         options={"verbose": False, "cache": False, "threads": 2}))
    task = DetectionTask(ds, checkpoint=out)
    test = ds.split("test")
    preds = task.predict([s.image for s in test], test)
    print("RESULT " + json.dumps({"attempts": attempts, "n_preds": len(preds), "metrics": manifest["metrics"],
                                  "keys": sorted(preds[0])}))
    """
)


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory):
    """Train 1 epoch on phantom mr8 (imgsz 64) with sockets blocked; a fresh YOLO_CONFIG_DIR (no font yet)."""
    root = tmp_path_factory.mktemp("det")
    ckpt = root / "weights" / "det-phantom.safetensors"
    env = {**os.environ, "YOLO_CONFIG_DIR": str(root / "yolo-config"), "BENCH_WEIGHTS_DIR": str(root / "none")}
    env.pop("YOLO_OFFLINE", None)  # the task must set it itself
    proc = subprocess.run([sys.executable, "-c", _OFFLINE_SCRIPT, str(ckpt)], capture_output=True, text=True,
                          env=env, timeout=300, cwd=root)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Ultralytics Settings" not in proc.stdout + proc.stderr  # its first-run banner (docs.ultralytics.com) stays quiet
    return ckpt, json.loads(lines[-1][len("RESULT "):]), root


def test_offline_training_and_prediction_make_no_network_attempt(phantom_run):
    ckpt, result, root = phantom_run
    assert result["attempts"] == []
    assert result["n_preds"] == 4 and result["keys"] == ["boxes", "labels", "scores"]
    assert (root / "yolo-config" / "Ultralytics" / "Arial.ttf").is_file()  # placed, not downloaded


def test_smoke_checkpoint_evaluates_and_loads_safely(phantom_run, monkeypatch):
    import torch

    from bench.datasets.phantom import open_phantom
    from bench.tasks.det.task import DetectionTask

    from bench.checkpoints import load_checkpoint

    ckpt, result, _ = phantom_run
    state, manifest = load_checkpoint(ckpt)
    assert all(v.dtype != torch.float16 for v in state.values())  # stored as float16, handed back as float32
    for key in ("task", "dataset", "dataset_fingerprint", "config", "seed", "metrics", "packages", "train_seconds",
                "device", "command", "model_yaml", "class_names", "imgsz"):
        assert key in manifest, key
    assert set(manifest["metrics"]["test"]) >= {"map50", "map50_95", "n_boxes"}
    assert ckpt.with_suffix(".csv").is_file() and ckpt.with_suffix(".json").is_file()
    ds = open_phantom("mr8")
    task = DetectionTask(ds, checkpoint=str(ckpt))
    test = ds.split("test")
    scores = task.evaluate([s.image for s in test], test, batch_size=3)
    sensitivity = {"sensitivity", "sensitivity_fp05"}  # one class: lesion-wise too
    assert ds.det_classes and len(ds.det_classes) == 1
    assert set(scores.summary) == {"map50", "map50_95"} | sensitivity
    assert all(0.0 <= v <= 1.0 for v in scores.summary.values())
    assert len(scores.per_image) == len(test) and all(set(d) == {"n_det", "det_boxes", "gt_boxes", "lesions", "found"} for d in scores.per_image)
    from bench.tasks.det.metrics import parse_boxes  # the rows keep what a bootstrap of mAP needs

    for d, s in zip(scores.per_image, test):
        boxes, labels, _ = parse_boxes(d["gt_boxes"])
        assert np.allclose(boxes, np.asarray(s.boxes).reshape(-1, 4), atol=0.01) and list(labels) == list(np.asarray(s.labels).reshape(-1))
    assert scores.summary["map50"] == pytest.approx(manifest["metrics"]["test"]["map50"])  # one scoring path
    assert len(task.model_id()) == 16
    # supports(): found through $BENCH_WEIGHTS_DIR, else names the training command
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(ckpt.parent))
    assert DetectionTask.supports(ds) is None
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(ckpt.parent / "empty"))
    monkeypatch.chdir(ckpt.parent)  # ./weights does not exist there
    assert "bench train-task det --data phantom" in DetectionTask.supports(ds)


def test_fingerprint_mismatch_and_missing_boxes_refused(phantom_run):
    from bench.datasets.phantom import open_phantom
    from bench.tasks.det.task import DetectionTask

    ckpt, _, _ = phantom_run
    ds = open_phantom("mr8")
    changed = Dataset(ds.name, [replace(ds.samples[0], image=ds.samples[0].image ^ 1)] + ds.samples[1:],
                      seg_classes=ds.seg_classes, det_classes=ds.det_classes)
    with pytest.raises(BenchError, match="fingerprint"):
        DetectionTask(changed, checkpoint=str(ckpt))
    no_boxes = Dataset("plain", [replace(s, boxes=None, labels=None) for s in ds.samples], det_classes=None)
    assert "no detection boxes" in DetectionTask.supports(no_boxes)


def test_loss_gradients_reach_the_input_with_trained_weights():
    import torch

    from bench.checkpoints import find_checkpoint
    from bench.tasks.det.task import DetectionTask

    if find_checkpoint("det", "colin27-aal") is None:
        pytest.skip("no committed det-colin27-aal checkpoint")
    from bench.datasets.colin27 import open_colin27

    try:
        ds = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    task = DetectionTask(ds)
    test = sorted(ds.split("test"), key=lambda s: -len(s.boxes))[:2]  # the slices holding most boxes
    images = torch.stack([torch.from_numpy(s.image).float()[None] / 255 for s in test]).requires_grad_(True)
    loss = task.loss(images, test)
    loss.backward()
    grad = images.grad
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert grad is not None and grad.shape == images.shape and torch.isfinite(grad).all()
    assert grad.abs().max() > 1e-6, grad.abs().max()
    assert all(not p.requires_grad for p in task.model.parameters())
    # a heavily degraded image costs more than the original
    worse = task.loss(torch.nn.functional.avg_pool2d(images.detach(), 9, 1, 4), test)
    assert worse > loss


def test_a_slow_nms_still_boxes_every_image(monkeypatch):
    """Ultralytics stops NMS after 2 s + 0.05 s per image and returns no boxes for the images it
    had not reached; on a busy machine that lowered mAP. Here its clock jumps 100 s per look."""
    import time

    import torch

    from bench.tasks.det.model import detect

    class Boxes:
        """A stand-in network: YOLO's raw output (batch × (4 + classes) × anchors), one sure box per anchor."""

        names = {0: "a", 1: "b"}

        def __call__(self, batch):
            n = batch.shape[0]
            raw = torch.zeros(n, 6, 4)
            raw[:, 0] = torch.tensor([8.0, 24.0, 40.0, 56.0])  # x centres, 16 px apart
            raw[:, 1], raw[:, 2], raw[:, 3], raw[:, 4] = 32.0, 10.0, 10.0, 0.9
            return raw

    clock = iter(range(0, 10**6, 100))
    monkeypatch.setattr(time, "time", lambda: float(next(clock)))
    images = [torch.rand(1, 3, 64, 64) for _ in range(5)]
    found = detect(Boxes(), images, imgsz=64)
    assert [len(d["boxes"]) for d in found] == [4] * 5


def test_init_hands_ultralytics_our_detector_to_transfer_from(phantom_run):
    """`bench train-task det --init FILE`: the trainer reads `yolo.ckpt` and transfers every tensor
    whose shape fits into the network it builds for the new classes (here: the same classes)."""
    import torch
    from ultralytics import YOLO

    from bench.checkpoints import load_checkpoint_arrays
    from bench.train.det import _start_from

    ckpt, _, _ = phantom_run
    state, manifest = load_checkpoint_arrays(ckpt, None)
    yolo = YOLO(manifest["model_yaml"], task="detect")
    _start_from(yolo, ckpt, manifest["model_yaml"])
    assert yolo.ckpt["model"] is yolo.model
    np.testing.assert_allclose(yolo.model.state_dict()["model.0.conv.weight"].numpy(), state["model.0.conv.weight"], rtol=1e-3, atol=1e-3)
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="not yolov8s.yaml"):
        _start_from(YOLO(manifest["model_yaml"], task="detect"), ckpt, "yolov8s.yaml")
