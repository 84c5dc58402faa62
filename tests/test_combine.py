"""`bench combine`: two runs joined give what one run of both codecs gives, and runs that did not
score alike (other images, networks or scoring code) are refused with one line, writing nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.analysis.bdrate import bd_rates
from bench.analysis.combine import combine_folders
from bench.analysis.reader import read_results
from bench.errors import BenchError

PHANTOM = ["--data", "phantom:mr8", "--task", "none", "--limit", "4", "--quiet"]


def _run(cli, out, codecs, *extra):
    result = cli("run", "--codecs", codecs, *PHANTOM, *extra, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from conftest import run_cli

    root = tmp_path_factory.mktemp("combine")
    env = {"BENCH_CACHE_DIR": str(root / "cache")}
    cli = lambda *a: run_cli(*a, env=env)  # noqa: E731
    return {"root": root, "cli": cli, "jpeg": _run(cli, root / "jpeg", "jpeg"), "webp": _run(cli, root / "webp", "webp"),
            "both": _run(cli, root / "both", "jpeg,webp")}


def test_combined_runs_give_the_joint_runs_numbers(runs):
    out = runs["root"] / "combined"
    result = runs["cli"]("combine", str(runs["jpeg"]), str(runs["webp"]), "--out", str(out))
    assert result.returncode == 0, result.stderr
    combined, joint = read_results(out), read_results(runs["both"])
    assert combined.codecs == ["jpeg", "webp"]
    key = ["codec", "quality", "image_id"]
    a = combined.results.sort_values(key).reset_index(drop=True)[key + ["bytes", "psnr"]]
    b = joint.results.sort_values(key).reset_index(drop=True)[key + ["bytes", "psnr"]]
    pd.testing.assert_frame_equal(a, b)
    assert (combined.results.codec == "reference").sum() == (joint.results.codec == "reference").sum()
    same = [bd_rates(f, "jpeg", "psnr", ["webp"], n_draws=50)[0] for f in (combined, joint)]
    assert same[0].status == "ok" and same[0].bd_rate == pytest.approx(same[1].bd_rate) and same[0].ci_low == pytest.approx(same[1].ci_low)
    sources = combined.manifest["combined_from"]
    assert [s["codecs"] for s in sources] == [["jpeg"], ["webp"]] and set(combined.manifest["codecs"]) == {"jpeg", "webp"}
    report = runs["cli"]("report", str(out), "--draws", "0")
    assert report.returncode == 0, report.stderr
    text = (out / "report" / "report.md").read_text()
    assert f"`webp`: from `{runs['webp']}`" in text and f"`jpeg`: from `{runs['jpeg']}`" in text


def test_a_codec_in_two_folders_is_refused(runs):
    with pytest.raises(BenchError, match="codec 'jpeg' is in both"):
        combine_folders([runs["jpeg"], runs["both"]])


def test_other_images_are_refused_and_nothing_is_written(runs):
    fewer = _run(runs["cli"], runs["root"] / "fewer", "webp", "--limit", "3")
    out = runs["root"] / "refused"
    result = runs["cli"]("combine", str(runs["jpeg"]), str(fewer), "--out", str(out))
    assert result.returncode != 0 and "n_images" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def _with_tasks(src, dst, tasks: dict):
    import shutil

    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["tasks"] = tasks
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_other_scoring_code_or_an_unversioned_folder_is_refused(runs, tmp_path):
    seg = {"model_id": "a1", "scoring_version": "v1"}
    a = _with_tasks(runs["jpeg"], tmp_path / "a", {"seg": seg})
    b = _with_tasks(runs["webp"], tmp_path / "b", {"seg": {**seg, "scoring_version": "v2"}})
    with pytest.raises(BenchError, match="differs in scoring_version"):
        combine_folders([a, b])
    old = _with_tasks(runs["webp"], tmp_path / "old", {"seg": {"model_id": "a1"}})
    with pytest.raises(BenchError, match="older bench"):
        combine_folders([a, old])
    same = _with_tasks(runs["webp"], tmp_path / "same", {"seg": seg})
    assert combine_folders([a, same])[2]["tasks"] == {"seg": seg}


def test_seg_scored_runs_combine_and_record_their_scoring_code(runs, tmp_path):
    """With a task, each run records the network and scoring code behind its scores, and runs that
    agree on them combine: their uncompressed Dice is the same number."""
    from test_user_task_weights import _bare_unet

    from bench.datasets.phantom import open_phantom
    from bench.tasks.seg.task import SegmentationTask

    weights = _bare_unet(tmp_path / "unet.safetensors", len(open_phantom("mr8").seg_classes))
    seg = ["--data", "phantom:mr8", "--limit", "2", "--quality", "50", "--task", f"seg:weights={weights}", "--quiet", "-j", "1"]
    for codec in ("jpeg", "webp"):
        result = runs["cli"]("run", "--codecs", codec, *seg, "--out", str(tmp_path / codec))
        assert result.returncode == 0, result.stderr
    task = json.loads((tmp_path / "jpeg" / "manifest.json").read_text())["tasks"]["seg"]
    assert task["scoring_version"] == SegmentationTask.__new__(SegmentationTask).scoring_version()
    results, summary, manifest = combine_folders([tmp_path / "jpeg", tmp_path / "webp"])
    assert set(summary.codec) == {"reference", "jpeg", "webp"} and summary.dice.notna().all()
    assert manifest["tasks"]["seg"]["scoring_version"] == task["scoring_version"]
