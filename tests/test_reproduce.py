"""`bench reproduce`: the plan (every command, in order, with estimates), and, in the slow tests,
a tiny run from empty to HTML report that continues after a kill and then does nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("compressai")


def test_the_plan_orders_the_pipeline_and_names_every_output(tmp_path):
    from bench.reproduce.plan import build_plan

    plan = build_plan("phantom:mr8", "tiny", tmp_path, jobs=2)
    names = [s.name for s in plan.steps]
    assert names[:6] == ["train seg", "train seg-holdout", "train det", "train mbt2018-mean", "train bmshj2018-hyperprior",
                         "train cheng2020-anchor"]
    assert names.index("train mvmicnet seg") < names.index("train mvmicnet seg control") < names.index("sweep")
    assert names[-1] == "HTML report" and "figures (paper layout)" in names
    sweep = plan.steps[names.index("sweep")]
    codecs = sweep.argv[sweep.argv.index("--codecs") + 1].split(",")
    assert {"mvmicnet", "mvmicnet:task=det", "mbt2018-mean"} <= set(codecs)
    assert {"mvmicnet:control=1", "mvmicnet:task=det:control=1"} <= set(codecs)
    assert all(str(s.output).startswith(str(tmp_path)) for s in plan.steps)
    control = plan.steps[names.index("train mvmicnet seg control")]
    assert "task_weight=0" in control.argv and control.argv[control.argv.index("--set") + 1] == "steps=2"


def test_mixed_images_leave_the_learned_codecs_out_with_a_note(tmp_path):
    from bench.reproduce.plan import build_plan

    plan = build_plan("phantom", "tiny", tmp_path, jobs=1)
    assert not any("mbt2018-mean" in s.name or "mvmicnet" in s.name for s in plan.steps)
    assert any("mixes channel counts" in n for n in plan.notes)


def test_dry_run_prints_commands_states_and_estimates_without_doing_anything(cli, tmp_path):
    proc = cli("reproduce", "--data", "colin27-aal", "--budget", "full", "--dry-run", "-j", "2", "--out", str(tmp_path / "r"))
    if proc.returncode != 0 and "colin27" in proc.stderr:
        pytest.skip("colin27-aal is not installed here")
    assert proc.returncode == 0, proc.stderr
    assert "bench train-codec mvmicnet --task seg --data colin27-aal" in proc.stderr and "task_weight=0" in proc.stderr
    assert "shipped checkpoint took" in proc.stderr and "estimate:" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_a_bad_budget_is_one_line(cli, tmp_path):
    proc = cli("reproduce", "--data", "phantom:mr8", "--budget", "huge", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "--budget 'huge': choose one of tiny, small, full" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def _reproduce(out, **kw):
    return subprocess.Popen([sys.executable, "-c", "from bench.cli import main; main()", "reproduce", "--data", "phantom:mr8",
                             "--budget", "tiny", "-j", "1", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, **kw)


@pytest.mark.slow
def test_tiny_reproduce_runs_to_the_report_continues_after_a_kill_and_then_does_nothing(tmp_path):
    out = tmp_path / "rep"
    first = _reproduce(out)
    stamps = out / ".reproduce"
    deadline = time.monotonic() + 600
    while not (stamps / "03.json").exists():  # killed in the middle: after the detector, during the anchors
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read() if first.poll() is not None else "timeout"
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (out / "report").exists()
    second = _reproduce(out)
    log = second.communicate(timeout=1200)[0]
    assert second.returncode == 0, log
    assert "train seg: done, skipped" in log and "train det: done, skipped" in log
    assert (out / "report" / "report.html").is_file() and (out / "figures").is_dir()
    assert json.loads((out / "bdrate-dice.json").read_text())
    started = time.monotonic()
    third = _reproduce(out)
    log = third.communicate(timeout=120)[0]
    assert third.returncode == 0 and "0 step(s) run, 19 already done" in log, log
    assert time.monotonic() - started < 30
