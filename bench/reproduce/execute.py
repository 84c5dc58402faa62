"""Run a reproduce plan step by step, resumably.

Each finished step leaves a stamp (`OUT/.reproduce/NN.json`): its command, a digest of its
output and the digest of the stamp before it. A step is skipped when its stamp says the same
command made the output that is there now, after the same upstream steps; so a step whose input
changed (an earlier step reran) runs again, and everything after it. A cut training step
continues from its `.resume.pt` (`--resume`); a cut sweep reuses its cached cells. Each step runs
as its own `bench` process, the command shown, its progress on the terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.errors import BenchError
from bench.reproduce.plan import Plan, Step, hours

STAMPS = ".reproduce"


def digest(path: Path) -> str | None:
    """SHA-256 of a file, or of a folder's relative paths and file digests; None if absent."""
    path = Path(path)
    if path.is_file():
        from bench.checkpoints import file_sha256

        return file_sha256(path)
    if not path.is_dir():
        return None
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode())
        h.update(digest(p).encode())
    return h.hexdigest()


def _stamp_path(plan: Plan, index: int) -> Path:
    return plan.out / STAMPS / f"{index:02d}.json"


def status(plan: Plan) -> list[str]:
    """Per step: "done", "resume" (a cut run to continue) or "to do", as `run_plan` would see it."""
    states, upstream = [], ""
    for i, step in enumerate(plan.steps):
        stamp = _read(_stamp_path(plan, i))
        done = stamp is not None and stamp["argv"] == list(step.argv) and stamp["upstream"] == upstream \
            and stamp["output"] == digest(step.output)
        states.append("done" if done else "resume" if step.resume_file and step.resume_file.is_file() else "to do")
        upstream = _chain(stamp) if done else "changed"
    return states


def _chain(stamp: dict | None) -> str:
    """What the next step's stamp records as its upstream: a digest of this one."""
    return hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_plan(plan: Plan, say=print) -> int:
    """Run every step not done; returns how many ran. A failing step stops the run with one line."""
    env = {**os.environ, "BENCH_WEIGHTS_DIR": str(plan.weights)}  # each step finds what the earlier ones trained
    ran, upstream = 0, ""
    states = status(plan)
    total = len(plan.steps)
    for i, (step, state) in enumerate(zip(plan.steps, states)):
        path = _stamp_path(plan, i)
        if state == "done":
            upstream = _chain(_read(path))
            say(f"[{i + 1}/{total}] {step.name}: done, skipped")
            continue
        argv = list(step.argv) + (["--resume"] if state == "resume" else [])
        say(f"[{i + 1}/{total}] {step.name} (estimate {hours(step.estimate_s)}{', continuing a cut run' if state == 'resume' else ''}): "
            f"bench {' '.join(argv)}")
        started = time.monotonic()
        _run(step, argv, env, i, total)
        stamp = {"argv": list(step.argv), "upstream": upstream, "output": digest(step.output),
                 "seconds": round(time.monotonic() - started, 1)}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamp, indent=2))
        os.replace(tmp, path)
        upstream = _chain(stamp)
        ran += 1
    return ran


def _run(step: Step, argv: list[str], env: dict, index: int, total: int) -> None:
    command = [sys.executable, "-c", "from bench.cli import main; main()", *argv]
    step.output.parent.mkdir(parents=True, exist_ok=True)
    if step.capture:  # JSON on stdout: written whole, or not at all
        proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if proc.returncode == 0:
            tmp = step.output.with_name(f".{step.output.name}.tmp")
            tmp.write_text(proc.stdout)
            os.replace(tmp, step.output)
    else:
        proc = subprocess.run(command, env=env)
    if proc.returncode != 0:
        raise BenchError(f"reproduce step {index + 1}/{total} ({step.name}) failed with exit code {proc.returncode} "
                         f"(command above); fix it and rerun the same `bench reproduce` to continue from there")
    if not step.output.exists():
        raise BenchError(f"reproduce step {index + 1}/{total} ({step.name}) exited 0 but wrote no {step.output}")
