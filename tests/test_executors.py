"""Executors: the same table in-process, in a local pool and on a Dask LocalCluster; a hung,
crashing, raising or garbage-writing encoder fails its own cells and the run goes on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.executors import DaskExecutor, InProcessExecutor, LocalPoolExecutor
from bench.results import results_frame
from bench.runner import RunConfig, execute, plan
from bench.tasks.base import TaskScores

TIMING = ["encode_s", "decode_s"]
TESTS = Path(__file__).resolve().parent


def _table(rows) -> pd.DataFrame:
    return results_frame(rows).drop(columns=TIMING)


class MeanTask:
    """A stand-in task: scores each decoded image by its mean, so the scoring path runs in
    milliseconds. Groups finish out of order in a pool; the table must not show it."""

    headline_columns = ["mean"]
    lower_is_better: set = set()

    def model_id(self) -> str:
        return "mean-test"

    def scoring_version(self) -> int:
        return 1

    def evaluate(self, images, samples) -> TaskScores:
        per_image = [{"mean": float(image.mean())} for image in images]
        return TaskScores(per_image, {"mean": sum(r["mean"] for r in per_image) / len(per_image)})


def _sweep(tmp_path, executor, codecs=("jpeg", "jpeg2000", "webp"), limit=3):
    config = RunConfig(codecs=list(codecs), data="phantom", limit=limit, cache_dir=str(tmp_path / "cache"),
                       use_cache=False, device="cpu")
    p = plan(config)
    p.tasks = {"mean": MeanTask()}
    with executor:
        return execute(p, show_progress=False, executor=executor)


def test_pool_table_equals_in_process_table(tmp_path):
    serial = _sweep(tmp_path, InProcessExecutor())
    pool = LocalPoolExecutor(2)
    parallel = _sweep(tmp_path, pool)
    pd.testing.assert_frame_equal(_table(serial.rows), _table(parallel.rows))
    assert serial.task_summaries == parallel.task_summaries and serial.task_columns == parallel.task_columns
    assert parallel.executor["kind"] == "local-pool" and parallel.executor["threads_per_worker"] == 1
    assert parallel.cells_computed == serial.cells_computed > 30


class ThreadsSeenTask(MeanTask):
    """Records how many torch threads the main process scored with."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def evaluate(self, images, samples) -> TaskScores:
        import torch

        self.seen.add(torch.get_num_threads())
        return super().evaluate(images, samples)


def test_tasks_score_on_the_cores_busy_workers_leave_and_threads_come_back(tmp_path):
    import torch

    from bench.device import available_cores

    class TwoBusyWorkers(InProcessExecutor):
        """Cells in this process, but reporting two busy workers, as a pool of 2 does mid-sweep."""

        def busy_workers(self) -> int:
            return 2

    before = torch.get_num_threads()
    task = ThreadsSeenTask()
    p = plan(RunConfig(codecs=["jpeg"], data="phantom", limit=2, use_cache=False, device="cpu"))
    p.tasks = {"threads": task}
    with TwoBusyWorkers() as executor:
        out = execute(p, show_progress=False, executor=executor)
    during = max(1, min(before, available_cores() - 2))
    assert task.seen == {during} and out.executor["main_threads_beside_workers"] == [during]
    assert torch.get_num_threads() == before
    with InProcessExecutor() as idle:  # no workers: the tasks keep every thread
        task.seen.clear()
        execute(p, show_progress=False, executor=idle)
    assert task.seen == {before}


def test_dask_local_cluster_table_equals_in_process_table(tmp_path):
    pytest.importorskip("distributed")
    serial = _sweep(tmp_path, InProcessExecutor(), codecs=("jpeg", "jpegls"), limit=2)
    on_dask = _sweep(tmp_path, DaskExecutor(workers=2, processes=False), codecs=("jpeg", "jpegls"), limit=2)
    pd.testing.assert_frame_equal(_table(serial.rows), _table(on_dask.rows))
    assert serial.task_summaries == on_dask.task_summaries
    assert on_dask.executor["kind"] == "dask" and on_dask.executor["workers"] == 2


def _fault_plugin(tmp_path: Path) -> dict:
    """Register `faulty` through an entry point on PYTHONPATH, so worker processes find it too."""
    info = tmp_path / "plugins" / "bench_test_faults-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-test-faults\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[bench.codecs]\nfaulty = codecs_for_tests:FaultyCodec\n")
    return {"PYTHONPATH": f"{info.parent}:{TESTS}"}


def test_faulty_cells_fail_with_their_reason_and_the_run_goes_on(tmp_path, cli):
    out = tmp_path / "out"
    codecs = "jpeg,faulty:mode=hang,faulty:mode=abort,faulty:mode=raise,faulty:mode=garbage"
    proc = cli("run", "--data", "phantom", "--codecs", codecs, "--quality", "40,60", "--limit", "2", "--task", "none",
               "-j", "2", "--cell-timeout", "2", "--quiet", "--out", str(out), env=_fault_plugin(tmp_path))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out / "results.parquet")
    faulty = df[df.codec.str.startswith("faulty")]
    assert (df[df.codec == "jpeg"].status == "ok").all() and (faulty[faulty.quality == 60].status == "ok").all()
    low = faulty[faulty.quality == 40]
    assert (low.status == "failed").all() and len(low) == 8
    reasons = low.groupby("codec").error.first()
    assert reasons["faulty:mode=hang"] == "timed out after 2 s; worker killed and replaced"
    assert reasons["faulty:mode=abort"] == "worker died (killed by SIGABRT) while coding this cell; replaced"
    assert reasons["faulty:mode=raise"] == "RuntimeError: encoder refused the image"
    assert reasons["faulty:mode=garbage"].startswith("ValueError")
    manifest = pd.read_json(out / "manifest.json", typ="series")
    assert manifest["executor"]["kind"] == "local-pool" and manifest["executor"]["cell_timeout_s"] == 2
    # the summary names every failed cell
    assert "faulty:mode=hang: 2 cell(s) failed: timed out after 2 s" in proc.stderr
    assert "[40/" in proc.stderr


def test_cells_waiting_behind_a_killed_worker_are_coded_by_its_replacement(tmp_path, cli):
    """A pool worker holds the next cell while it codes one. With one worker, the second hung
    cell waits in the pipe of the worker the first one hangs; it must be requeued, not lost
    nor failed with the first one's reason, and the cells after it must come out fine."""
    out = tmp_path / "out"
    proc = cli("run", "--data", "phantom", "--codecs", "faulty:mode=hang", "--quality", "40,60", "--limit", "2",
               "--task", "none", "-j", "1", "--cell-timeout", "1", "--quiet", "--out", str(out), env=_fault_plugin(tmp_path))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out / "results.parquet").query("codec != 'reference'")
    assert list(df.quality) == [40, 40, 60, 60]
    assert list(df.status) == ["failed", "failed", "ok", "ok"]
    assert set(df.error[df.status == "failed"]) == {"timed out after 1 s; worker killed and replaced"}
    executor = pd.read_json(out / "manifest.json", typ="series")["executor"]
    assert executor["kind"] == "local-pool" and executor["workers"] == 1 and executor["workers_replaced"] == 2


def test_on_a_cuda_machine_learned_codec_cells_still_go_to_the_workers(monkeypatch, tmp_path):
    """Where a cell codes is the codec's declaration (`Codec.runs_on`), decided once by the plan: with
    --device resolving to CUDA (faked), the learned codecs, which code on the CPU, go to the pool; only
    a codec declaring it runs on the device is coded in the main process, with that device."""
    import bench.runner as runner
    from bench import registry
    from bench.errors import BenchError
    from bench.cells import codec_instance
    from bench.executors import Executor, run_cell, split_by_place
    from bench.runner import RunConfig, execute, plan
    from codecs_for_tests import FlakyCodec

    class OnDevice(FlakyCodec):
        name = "on-device-test"
        runs_on = "device"

    monkeypatch.setattr(registry, "get", (lambda real: lambda kind, name: OnDevice if name == OnDevice.name else real(kind, name))(registry.get))
    monkeypatch.setattr(runner, "resolve_device", lambda device: "cuda")

    class Recording(Executor):
        def run(self, cells, images):
            self.places = split_by_place(cells)
            self.devices = {c.codec: c.device for c in cells}
            for i, cell in enumerate(cells):
                yield i, run_cell(cell, images[cell.image])

    try:
        p = plan(RunConfig(codecs=["jpeg", "mbt2018-mean", OnDevice.name], data="colin27-aal", limit=1, use_cache=False, device="cuda"))
    except BenchError as exc:
        pytest.skip(str(exc))
    assert p.cell_devices == {"jpeg": "cpu", "mbt2018-mean": "cpu", OnDevice.name: "cuda"}
    assert codec_instance(OnDevice.name, "cuda", (p.dataset.name, p.dataset.fingerprint)).device == "cuda"
    p.qualities = {"jpeg": [50], "mbt2018-mean": [0], OnDevice.name: [50]}
    with Recording() as executor:
        execute(p, show_progress=False, executor=executor)
    assert executor.devices == {"jpeg": "cpu", "mbt2018-mean": "cpu", OnDevice.name: "cuda"}
    local, remote = executor.places
    assert len(local) == 1 and len(remote) == 2
