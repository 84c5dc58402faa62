"""MVMICNet: both stages train (tiny) against the frozen seg network with the balance logged,
the run-time codec picks its checkpoint by options and refuses one trained against another
task network; the balance itself does what its docstring says."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("compressai")

from bench.errors import BenchError  # noqa: E402
from bench.train.balance import TaskBalance  # noqa: E402

TINY = {"stage1_from": "", "stage1.N": 8, "stage1.M": 8, "stage1.steps": 3, "stage1.finetune_steps": 2,
        "stage1.lambdas": [0.02, 0.005], "stage1.val_every": 100, "stage1.crop": 64, "stage1.batch_size": 2,
        "steps": 3, "batch_size": 2, "val_every": 100, "dwa_window": 2, "threads": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from bench.datasets.colin27 import open_colin27
    from bench.train.mvmicnet import train_mvmicnet

    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("weights")
    manifest = train_mvmicnet(data, ["seg"], out, dict(TINY), show_progress=False)
    return data, out, manifest


def test_stage_two_records_its_task_network_and_logs_the_balance(trained):
    from bench.checkpoints import file_sha256, find_checkpoint

    data, out, manifest = trained
    assert manifest["stage"] == 2 and manifest["tasks"] == ["seg"] and manifest["codec"] == "mvmicnet"
    assert manifest["task_networks"]["seg"]["sha256"] == file_sha256(find_checkpoint("seg", data.name))
    assert [p["lambda"] for p in manifest["rate_points"]] == [0.005, 0.02]
    for p in manifest["rate_points"]:
        assert p["val_bpp"] > 0 and p["val_seg"] > 0 and set(p["alphas_val"]) == {"seg"}
    with (out / f"mvmicnet-seg-{data.name}.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(float(r["alpha_seg"]) > 0 and float(r["task_seg"]) > 0 for r in rows)
    assert (out / f"mvmicnet-stage1-{data.name}.safetensors").is_file()


def test_codec_options_pick_the_checkpoint_and_code_real_bytes(trained, monkeypatch):
    from bench.codecs.learned.mvmicnet import MVMICNet

    data, out, _ = trained
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(out))
    image = data.split("test")[0].image
    for stage, name in ((2, "mvmicnet-seg"), (1, "mvmicnet-stage1")):
        codec = MVMICNet(stage=stage, task="seg")
        codec.for_dataset(data.name, data.fingerprint)
        assert codec.params()["checkpoint"] == f"{name}-{data.name}.safetensors"
        stream = codec.encode(image, 1, 8)
        decoded = codec.decode(stream)
        assert decoded.shape == image.shape and decoded.dtype == image.dtype and len(stream) > 18
    with pytest.raises(BenchError, match=r"no trained mvmicnet-seg\+det for 'elsewhere'.*bench train-codec mvmicnet --task seg,det"):
        MVMICNet(task="seg+det").for_dataset("elsewhere", "0" * 16)  # a dataset no checkpoint was trained on


def test_without_a_stage_one_file_stage_one_is_the_anchor_checkpoint_it_was_copied_from(trained, tmp_path, monkeypatch):
    """Stage 1 is mbt2018-mean's recipe; the project ships no 21 MB copy of that anchor's weights."""
    import shutil

    from bench.codecs.learned.mvmicnet import MVMICNet

    data, out, _ = trained
    anchor = tmp_path / f"mbt2018-mean-{data.name}.safetensors"
    shutil.copyfile(out / f"mvmicnet-stage1-{data.name}.safetensors", anchor)
    from bench.checkpoints import load_checkpoint, save_checkpoint

    state, manifest = load_checkpoint(anchor)
    save_checkpoint(anchor, state, {k: v for k, v in manifest.items() if k not in ("codec", "stage")})  # as the anchor trainer writes it
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no ./weights with a stage-1 file
    codec = MVMICNet(stage=1)
    codec.for_dataset(data.name, data.fingerprint)
    assert codec.params()["checkpoint"] == anchor.name
    elsewhere = tmp_path / "mbt2018-mean-elsewhere.safetensors"  # an anchor for data no MVMICNet was trained on
    shutil.copyfile(anchor, elsewhere)
    assert MVMICNet.find_weights("elsewhere", {"stage": 1, "task": "seg"}) == elsewhere
    assert MVMICNet.find_weights("elsewhere", {"stage": 2, "task": "seg"}) is None  # stage 2 never falls back to the anchor


def test_stage_two_with_two_jobs_trains_the_points_side_by_side_and_merges_them(trained, tmp_path):
    """`-j 2`: the rate points are independent fine-tunes from stage 1, so they train in two
    one-thread processes and are merged lowest λ first, their logs with them; the parts go."""
    import shutil

    from bench.codecs.learned.mvmicnet import MVMICNet
    from bench.train.mvmicnet import train_mvmicnet

    data, out, _ = trained
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(out / f"mvmicnet-stage1-{data.name}{suffix}", tmp_path / f"mvmicnet-stage1-{data.name}{suffix}")
    opts = {k: v for k, v in TINY.items() if not k.startswith("stage1")}
    manifest = train_mvmicnet(data, ["seg"], tmp_path, opts, stages=(2,), show_progress=False, jobs=2)
    assert [p["lambda"] for p in manifest["rate_points"]] == [0.005, 0.02]
    assert manifest["parallel"]["jobs"] == 2 and [p["points"] for p in manifest["parallel"]["parts"]] == [[0], [1]]
    with (tmp_path / f"mvmicnet-seg-{data.name}.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and {r["part"] for r in rows} == {"0", "1"}
    assert not list(tmp_path.glob(".*.parts"))
    codec = MVMICNet(weights=str(tmp_path / f"mvmicnet-seg-{data.name}.safetensors"))
    codec.for_dataset(data.name, data.fingerprint)
    image = data.split("test")[0].image
    for quality in (0, 1):
        stream = codec.encode(image, quality)
        assert codec.decode(stream).shape == image.shape and len(stream) > 18


def test_a_control_run_without_the_task_term_on_chosen_rate_points(trained, tmp_path):
    """`task_weight=0` is the ablation of stage 2 (same steps, R + λD only); `points` picks rate points."""
    import shutil

    from bench.train.mvmicnet import train_mvmicnet

    data, out, _ = trained
    shutil.copyfile(out / f"mvmicnet-stage1-{data.name}.safetensors", tmp_path / f"mvmicnet-stage1-{data.name}.safetensors")
    shutil.copyfile(out / f"mvmicnet-stage1-{data.name}.json", tmp_path / f"mvmicnet-stage1-{data.name}.json")
    opts = {k: v for k, v in TINY.items() if not k.startswith("stage1")}
    manifest = train_mvmicnet(data, ["seg"], tmp_path, {**opts, "task_weight": 0, "points": [1]}, stages=(2,), show_progress=False)
    assert [p["stage1_point"] for p in manifest["rate_points"]] == [1] and manifest["control"] is True
    with open(tmp_path / f"mvmicnet-seg-control-{data.name}.csv", newline="") as fh:  # saved beside the variant, not over it
        rows = list(csv.DictReader(fh))
    assert rows and all(float(r["alpha_seg"]) == 0 and r["task_seg"] == "" for r in rows)
    assert not (tmp_path / f"mvmicnet-seg-{data.name}.safetensors").exists()
    from bench.codecs.learned.mvmicnet import MVMICNet

    control = tmp_path / f"mvmicnet-seg-control-{data.name}.safetensors"
    codec = MVMICNet(control=1, weights=str(control))
    codec.for_dataset(data.name, data.fingerprint)
    assert codec.manifest["control"] is True
    with pytest.raises(BenchError, match="holds its task-term-off control, but control=0 was asked for"):
        MVMICNet(weights=str(control)).for_dataset(data.name, data.fingerprint)
    with pytest.raises(BenchError, match="points=\\[7\\]: stage 1 has rate points 0-1"):
        train_mvmicnet(data, ["seg"], tmp_path, {**opts, "points": [7]}, stages=(2,), show_progress=False)


def test_a_checkpoint_trained_against_another_task_network_is_refused(trained, tmp_path, monkeypatch):
    from bench.checkpoints import load_checkpoint, save_checkpoint
    from bench.codecs.learned.mvmicnet import MVMICNet

    data, out, _ = trained
    path = out / f"mvmicnet-seg-{data.name}.safetensors"
    state, manifest = load_checkpoint(path)
    manifest["task_networks"]["seg"]["sha256"] = "0" * 64
    save_checkpoint(tmp_path / path.name, state, manifest)
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(BenchError, match="trained against the seg network .*retrain with `bench train-codec mvmicnet --task seg"):
        MVMICNet(task="seg").for_dataset(data.name, data.fingerprint)


def test_balance_normalises_by_loss_ratio_and_favours_the_slower_task():
    single = TaskBalance(["seg"], task_weight=0.5, window=2)
    single.update(distortion=4.0, task_losses={"seg": 2.0})
    assert single.weights()["seg"] == pytest.approx(0.5 * 4.0 / 2.0)
    joint = TaskBalance(["seg", "det"], window=1, ema=0.0)
    for seg, det in ((1.0, 1.0), (0.5, 0.9)):  # seg halves, det barely moves
        joint.update(distortion=1.0, task_losses={"seg": seg, "det": det})
    dwa = joint.state["dwa"]
    assert dwa["det"] > 1 > dwa["seg"] and sum(dwa.values()) == pytest.approx(2.0)
    assert np.isfinite(list(joint.weights().values())).all()


def test_the_held_out_evaluator_is_never_a_training_target():
    from bench import registry
    from bench.datasets.colin27 import open_colin27
    from bench.train.mvmicnet import train_mvmicnet

    holdout = registry.get("task", "seg-holdout")
    assert holdout.holdout and holdout.train_defaults["base"] != 16  # another width than the scoring net
    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    with pytest.raises(BenchError, match="held-out evaluator is never used to train a codec"):
        train_mvmicnet(data, ["seg-holdout"], "/nonexistent", {"stage1_from": ""}, stages=(2,), show_progress=False)


def test_the_held_out_evaluator_writes_its_own_columns(tmp_path):
    """Both segmentation networks score the same images: the held-out one must not overwrite `dice`."""
    import json

    from typer.testing import CliRunner

    from bench import registry
    from bench.cli import app

    from bench.datasets.colin27 import open_colin27

    try:
        why_not = registry.get("task", "seg-holdout").supports(open_colin27())
    except BenchError as exc:
        pytest.skip(str(exc))
    if why_not:
        pytest.skip(why_not)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--data", "colin27-aal", "--codecs", "jpeg", "--quality", "50", "--task", "seg,seg-holdout",
                                      "--limit", "2", "--out", str(out), "--quiet", "--no-cache"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert "dice" in manifest["task_columns"]["seg"] and "holdout_dice" in manifest["task_columns"]["seg-holdout"]
    assert not set(manifest["task_columns"]["seg"]) & set(manifest["task_columns"]["seg-holdout"])
    assert manifest["metric_directions"]["holdout_hd95"] == "lower"


def test_an_explicit_stage_one_trained_on_other_data_is_used_and_recorded(trained, tmp_path):
    """`--set stage1_checkpoint=FILE` (how colin27-lesions starts from the colin27-aal anchor): the
    dataset check is skipped for that file alone, its shape is still checked, and the manifest says
    what it was trained on; as the dataset's own stage 1 the same file is refused."""
    from bench.checkpoints import file_sha256, load_checkpoint, save_checkpoint
    from bench.train.mvmicnet import train_mvmicnet

    data, out, _ = trained
    state, manifest = load_checkpoint(out / f"mvmicnet-stage1-{data.name}.safetensors")
    other = tmp_path / "mbt2018-mean-other.safetensors"
    save_checkpoint(other, state, {**manifest, "dataset": "other", "dataset_fingerprint": "0" * 16})
    opts = {k: v for k, v in TINY.items() if not k.startswith("stage1")}
    result = train_mvmicnet(data, ["seg"], tmp_path / "w", {**opts, "points": [0], "stage1_checkpoint": str(other)}, show_progress=False)
    assert result["stage1"]["trained_on"] == "other" and result["stage1"]["sha256"] == file_sha256(other)
    assert result["dataset_fingerprint"] == data.fingerprint and [p["stage1_point"] for p in result["rate_points"]] == [0]
    assert not (tmp_path / "w" / f"mvmicnet-stage1-{data.name}.safetensors").exists()  # stage 1 is that file, not a copy
    again = train_mvmicnet(data, ["seg"], tmp_path / "w2", {**opts, "points": [0], "stage1_checkpoint": str(other)},
                           init=tmp_path / "w" / f"mvmicnet-seg-{data.name}.safetensors", show_progress=False)
    assert [(p["stage2_steps"], p["stage2_total_steps"]) for p in result["rate_points"] + again["rate_points"]] == [(3, 3), (3, 6)]
    own = tmp_path / "own"
    own.mkdir()
    save_checkpoint(own / f"mvmicnet-stage1-{data.name}.safetensors", state, {**manifest, "dataset_fingerprint": "0" * 16})
    with pytest.raises(BenchError, match="trained on dataset fingerprint 0000"):
        train_mvmicnet(data, ["seg"], own, opts, stages=(2,), show_progress=False)
    with pytest.raises(BenchError, match=r"stage1_checkpoint=.*no such file"):
        train_mvmicnet(data, ["seg"], tmp_path / "w", {**opts, "stage1_checkpoint": str(tmp_path / "missing.safetensors")}, show_progress=False)
    wrong = tmp_path / "cheng.safetensors"
    save_checkpoint(wrong, state, {**manifest, "arch": "cheng2020-anchor"})
    with pytest.raises(BenchError, match="not an mbt2018-mean"):
        train_mvmicnet(data, ["seg"], tmp_path / "w", {**opts, "stage1_checkpoint": str(wrong)}, show_progress=False)
