"""Task networks trained elsewhere: `--task seg:weights=FILE.safetensors` (the shipped U-Net's
weights, even as a bare state dict) and `--task det:weights=FILE.pt` (Ultralytics' own pickled
checkpoint, only with --trust-pickle)."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from bench.checkpoints import file_sha256  # noqa: E402
from bench.datasets.phantom import open_phantom  # noqa: E402

RUN = ("run", "--codecs", "jpeg", "--quality", "50", "--data", "phantom:mr8", "--limit", "2", "--quiet", "-j", "1")


def _bare_unet(path, num_classes: int, in_planes: int = 3):
    """A U-Net state dict as anyone would save it: safetensors, no manifest."""
    from safetensors.torch import save_file

    from bench.tasks.seg.model import UNet

    torch.manual_seed(0)
    model = UNet(1, num_classes, base=8, coords=in_planes == 3)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _ultralytics_pt(path, names: list[str], imgsz: int = 64):
    """A checkpoint in the form Ultralytics' trainer saves (`best.pt`): the model object, half precision, train args."""
    from bench.tasks.det.model import build

    model = build("yolov8n.yaml", names)
    torch.save({"model": copy.deepcopy(model).half(), "ema": None, "train_args": {"imgsz": imgsz}, "epoch": -1}, path)
    return path


def test_a_bare_unet_from_elsewhere_scores_seg_and_is_recorded(cli, tmp_path):
    classes = open_phantom("mr8").seg_classes
    weights = _bare_unet(tmp_path / "my-unet.safetensors", len(classes))
    proc = cli(*RUN, "--task", f"seg:weights={weights}", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert summary.dice.notna().all() and ((summary.dice >= 0) & (summary.dice <= 1)).all()
    task = json.loads((tmp_path / "run" / "manifest.json").read_text())["tasks"]["seg"]
    assert task["weights"] == {"file": "my-unet.safetensors", "sha256": file_sha256(weights)}


@pytest.mark.parametrize("case, message", [
    ("classes", "predicts 7 classes, dataset 'phantom' has"),
    ("planes", "reads 5 input planes"),
    ("suffix", "give the U-Net's weights as a .safetensors file"),
    ("option", "task 'seg' has no option 'wieghts'"),
    ("twice", "'seg' is listed twice"),
])
def test_bad_seg_weights_fail_in_one_line_before_any_work(case, message, cli, tmp_path):
    from safetensors.torch import save_file

    n = len(open_phantom("mr8").seg_classes)
    if case == "classes":
        spec = f"seg:weights={_bare_unet(tmp_path / 'u.safetensors', 7)}"
    elif case == "planes":
        path = _bare_unet(tmp_path / "u.safetensors", n)
        from safetensors.torch import load_file

        state = load_file(str(path))
        state["enc.0.0.weight"] = torch.zeros(8, 5, 3, 3)
        save_file(state, str(path))
        spec = f"seg:weights={path}"
    elif case == "suffix":
        (tmp_path / "u.pt").write_bytes(b"x")
        spec = f"seg:weights={tmp_path / 'u.pt'}"
    elif case == "option":
        spec = "seg:wieghts=x.safetensors"
    else:
        path = _bare_unet(tmp_path / "u.safetensors", n)
        spec = f"seg:weights={path},seg:weights={path}"
    out = tmp_path / "run"
    proc = cli(*RUN, "--task", spec, "--out", str(out))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1 and not out.exists()


def test_ultralytics_weights_need_trust_pickle(cli, tmp_path):
    names = list(open_phantom("mr8").det_classes)
    weights = _ultralytics_pt(tmp_path / "best.pt", names)
    refused = cli(*RUN, "--task", f"det:weights={weights}", "--out", str(tmp_path / "no"))
    assert refused.returncode == 2 and "is a pickle" in refused.stderr and "--trust-pickle" in refused.stderr
    assert len([line for line in refused.stderr.splitlines() if line.strip()]) == 1 and not (tmp_path / "no").exists()
    proc = cli(*RUN, "--task", f"det:weights={weights}", "--trust-pickle", "--out", str(tmp_path / "yes"))
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(tmp_path / "yes" / "summary.csv")
    assert "map50" in summary and summary.map50.notna().all()
    task = json.loads((tmp_path / "yes" / "manifest.json").read_text())["tasks"]["det"]
    assert task["weights"]["sha256"] == file_sha256(weights) and task["weights"]["format"] == "ultralytics"


def test_ultralytics_weights_of_other_classes_are_refused(tmp_path):
    from bench.errors import BenchError
    from bench.tasks.det.task import DetectionTask

    weights = _ultralytics_pt(tmp_path / "best.pt", ["polyp", "adenoma"])
    with pytest.raises(BenchError, match=r"detects \['polyp', 'adenoma'\], but dataset 'phantom' has classes"):
        DetectionTask(open_phantom("mr8"), weights=str(weights), trust_pickle=True)


def test_the_held_out_evaluator_takes_weights_from_elsewhere_too(tmp_path):
    import numpy as np

    from bench.tasks.seg.task import HoldoutSegmentationTask

    dataset = open_phantom("mr8")
    weights = _bare_unet(tmp_path / "other-unet.safetensors", len(dataset.seg_classes))
    task = HoldoutSegmentationTask(dataset, weights=str(weights))
    samples = dataset.split("test")[:2]
    scores = task.evaluate([s.image for s in samples], samples)
    assert all(set(d) and all(k.startswith("holdout_") for k in d) for d in scores.per_image)
    assert np.isfinite([d["holdout_dice"] for d in scores.per_image]).all()
