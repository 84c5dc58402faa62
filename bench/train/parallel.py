"""`bench train-codec NAME -j N`: rate points trained side by side, one thread each, then merged
(the anchors here; MVMICNet's stage 2 the same way, `train_stage2_parallel`).

Why: on a small CPU, two one-thread processes train more steps per hour than one process on two
threads (`results/benchmarks/`), and after the first point a λ ladder's points are independent
fine-tunes. So: without `--init`, the first (highest) λ trains alone on every core, then the other
points fine-tune from it in N processes; with `--init`, every point continues from the committed
checkpoint and all of them are shared out at once. Each process writes a part checkpoint (with its
own log and resume file) beside the output; the parts are merged into one checkpoint, lowest rate
first, and removed. `--resume` resumes every part; a part already finished is kept.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.errors import BenchError


def _watch_parent(parent: int) -> None:
    """A worker whose parent died (kill -9) stops too, so a later --resume is not raced by orphans."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _part(parent: int, arch: str, dataset, out: Path, overrides: dict, seed: int, device: str, resume: bool, init: Path | None) -> None:
    _watch_parent(parent)
    from bench.train.codec import train_codec

    resume = resume and out.with_name(f"{out.stem}.resume.pt").is_file()
    train_codec(arch, dataset, out, overrides, seed=seed, device=device, resume=resume, show_progress=False, init=init)


def _stage2_part(parent: int, train_stage2, dataset, task_names: list[str], folder: Path, overrides: dict, stage1_path: Path, seed: int,
                 device: str, resume: bool, init: Path | None) -> None:
    _watch_parent(parent)
    train_stage2(dataset, task_names, folder, overrides, seed=seed, device=device, resume=resume, show_progress=False, stages=(2,),
                 init=init, stage1_path=stage1_path)


def _part_path(out: Path, k: int) -> Path:
    return out.with_name(f"{out.stem}.part{k}{out.suffix}")


def _status(parts: list[Path]) -> str:
    bits = []
    for path in parts:
        log = path.with_suffix(".csv")
        rows = list(csv.DictReader(log.open(newline=""))) if log.is_file() else []
        best = [r for r in rows if r.get("best") == "1"]
        tail = f", best val {float(best[-1]['val_psnr']):.2f} dB" if best and best[-1].get("val_psnr") else ""
        bits.append(f"{path.stem}: {len(rows)} steps{tail}{' (done)' if path.is_file() else ''}")
    return "; ".join(bits)


def _run_parts(jobs: list[tuple], show_progress: bool, target=_part, outputs: list[Path] | None = None) -> None:
    """Run `target(parent_pid, *job)` for every job in its own spawned process; `outputs`: each
    job's checkpoint path (default job[2]), whose logs the status lines read."""
    import multiprocessing as mp

    outputs = outputs or [job[2] for job in jobs]
    ctx = mp.get_context("spawn")  # a fresh interpreter: no OpenMP pool inherited from a parent that trained
    procs = [ctx.Process(target=target, args=(os.getpid(), *job)) for job in jobs]
    for p in procs:
        p.start()
    last = time.perf_counter()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(2.0)
            if show_progress and time.perf_counter() - last > 60:
                print(_status(outputs), flush=True)
                last = time.perf_counter()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    failed = [(path.name, p.exitcode) for path, p in zip(outputs, procs) if p.exitcode != 0]
    if failed:
        raise BenchError("train-codec -j: " + ", ".join(f"{name} exited with code {code}" for name, code in failed)
                         + "; rerun with --resume to continue the parts")


def _merge_logs(out: Path, parts: list[Path]) -> None:
    rows, fields = [], ["part"]
    for k, path in enumerate(parts):
        log = path.with_suffix(".csv")
        with log.open(newline="") as fh:
            reader = csv.DictReader(fh)
            fields += [f for f in reader.fieldnames or [] if f not in fields]
            rows += [{"part": k, **r} for r in reader]
    with out.with_suffix(".csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _merged_points(parts: list[Path], fingerprint: str) -> tuple[list[tuple[dict, dict]], list[dict], dict]:
    """The parts' rate points, lowest λ first: ((point, its weights) records, the part manifests,
    the merged `p{i}.` state dict)."""
    from bench.checkpoints import load_checkpoint

    records, manifests = [], []
    for path in parts:
        state, manifest = load_checkpoint(path, fingerprint)
        manifests.append(manifest)
        for j, point in enumerate(manifest["rate_points"]):
            prefix = f"p{j}."
            records.append((point, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}))
    records.sort(key=lambda r: float(r[0]["lambda"]))
    return records, manifests, {f"p{i}.{k}": v for i, (_, w) in enumerate(records) for k, v in w.items()}


def train_codec_parallel(arch: str, dataset, out: Path, overrides: dict[str, Any], seed: int = 0, device: str = "cpu",
                         resume: bool = False, show_progress: bool = True, label: dict | None = None, init: Path | None = None,
                         jobs: int = 2) -> dict:
    from bench.checkpoints import save_checkpoint
    from bench.train.codec import options_for, train_codec

    opts = options_for(overrides)
    lambdas = list(opts["lambdas"])
    started = time.perf_counter()
    budget = opts["time_budget_s"]
    parts: list[Path] = []
    if init is None:  # the first point from scratch, alone on every core
        first = _part_path(out, 0)
        if not (resume and first.is_file()):
            train_codec(arch, dataset, first, {**overrides, "lambdas": lambdas[:1], "threads": opts["threads"] or jobs}, seed=seed,
                        device=device, resume=resume and first.with_name(f"{first.stem}.resume.pt").is_file(),
                        show_progress=show_progress)
        parts.append(first)
        init, lambdas = first, lambdas[1:]
    groups = [lambdas[k::jobs] for k in range(jobs) if lambdas[k::jobs]]
    left = None if budget is None else max(float(budget) - (time.perf_counter() - started), 1.0)
    work = []
    for k, group in enumerate(groups, start=len(parts)):
        path = _part_path(out, k)
        parts.append(path)
        if resume and path.is_file():
            continue
        part_opts = {**overrides, "lambdas": group, "threads": 1, **({"time_budget_s": left} if left else {})}
        work.append((arch, dataset, path, part_opts, seed, device, resume, init))
    if work:
        _run_parts(work, show_progress)
    records, manifests, weights = _merged_points(parts, dataset.fingerprint)
    last = manifests[-1]
    manifest = {**last, "rate_points": [p for p, _ in records], "config": {**opts, "threads": 1},
                "train_seconds": round(time.perf_counter() - started, 1),
                "parallel": {"jobs": jobs, "parts": [{"lambdas": [p["lambda"] for p in m["rate_points"]], "train_seconds": m["train_seconds"],
                                                      "stopped_by_budget": m.get("stopped_by_budget")} for m in manifests]},
                "stopped_by_budget": any(m.get("stopped_by_budget") for m in manifests), **(label or {})}
    if init is not None and parts and init == parts[0]:  # the first point's part is no ancestor of the merged file
        manifest.pop("init", None)
        manifest.pop("ancestry", None)
        manifest["ancestry"] = manifests[0].get("ancestry", [])
        if manifests[0].get("init"):
            manifest["init"] = manifests[0]["init"]
    _merge_logs(out, parts)
    save_checkpoint(out, weights, manifest)
    for path in parts:  # merged: the parts go
        for p in (path, path.with_suffix(".json"), path.with_suffix(".csv"), path.with_name(f"{path.stem}.resume.pt")):
            p.unlink(missing_ok=True)
    return manifest


def train_stage2_parallel(train_stage2, dataset, task_names: list[str], out: Path, overrides: dict[str, Any], opts: dict[str, Any],
                          chosen: list[int], stage1_path: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
                          show_progress: bool = True, init: Path | None = None, jobs: int = 2) -> dict:
    """MVMICNet stage 2 with its `chosen` stage-1 rate points shared out over `jobs` one-thread
    processes, each running `train_stage2` (`train_mvmicnet`, handed over by reference, so this
    module does not import it) on its share: every point is an independent fine-tune from its
    stage-1 weights, so the parts are the same runs as one process would make, side by side. Each
    part trains in its own folder beside `out` (`--resume` continues them; a finished part is
    kept) and the parts are merged, lowest λ first."""
    import shutil
    import sys

    from bench.checkpoints import save_checkpoint

    groups = [chosen[k::jobs] for k in range(jobs) if chosen[k::jobs]]
    started = time.perf_counter()
    parts_dir = out.with_name(f".{out.stem}.parts")
    folders = [parts_dir / f"part{k}" for k in range(len(groups))]
    files = [folder / out.name for folder in folders]
    work, outputs = [], []
    for group, folder, path in zip(groups, folders, files):
        if resume and path.is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        work.append((train_stage2, dataset, task_names, folder, {**overrides, "points": group, "threads": 1}, stage1_path, seed, device,
                     resume, init))
        outputs.append(path)
    if work:
        _run_parts(work, show_progress, target=_stage2_part, outputs=outputs)
    records, manifests, weights = _merged_points(files, dataset.fingerprint)
    manifest = {**manifests[-1], "rate_points": [p for p, _ in records], "config": {**opts, "threads": 1},
                "train_seconds": round(time.perf_counter() - started, 1), "command": sys.argv, "log": out.with_suffix(".csv").name,
                "parallel": {"jobs": jobs, "parts": [{"points": g, "train_seconds": m["train_seconds"], "stopped_by_budget": m.get("stopped_by_budget")}
                                                     for g, m in zip(groups, manifests)]},
                "stopped_by_budget": any(m.get("stopped_by_budget") for m in manifests)}
    _merge_logs(out, files)
    save_checkpoint(out, weights, manifest)
    shutil.rmtree(parts_dir)
    return manifest
