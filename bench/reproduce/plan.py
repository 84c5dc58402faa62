"""`bench reproduce`'s plan: the paper's pipeline on one dataset as the `bench` commands that make it.

The order is the only one that works: task networks first (MVMICNet's stage 2 trains against
them and the sweep scores with them), then the anchors (mbt2018-mean is MVMICNet's stage 1),
then MVMICNet's stage 2 per task with its same-budget control (task term off), then the sweep,
then the analysis. Every step is an ordinary command a user could type; the plan only fills in
the data, the budget's settings and where each output goes (all under one folder).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.reproduce.budgets import BUDGETS, DEFAULT_EPOCHS, FP32_SLOWDOWN, SECONDS_PER_IMAGE_EPOCH, SECONDS_PER_STEP

ANCHORS = ("mbt2018-mean", "bmshj2018-hyperprior", "cheng2020-anchor")  # mbt2018-mean first: MVMICNet's stage 1


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]  # the bench command, without `bench`
    output: Path  # the file (or, for the sweep, the results folder) the step makes
    estimate_s: float
    resume_file: Path | None = None  # present after a cut run: the step continues with --resume
    measured_s: float | None = None  # the time the shipped checkpoint for this dataset took (its manifest)
    capture: bool = False  # the command prints its output (JSON) on stdout: kept in `output`


@dataclass
class Plan:
    data: str
    dataset_name: str
    budget: str
    out: Path
    steps: list[Step]
    notes: list[str] = field(default_factory=list)

    @property
    def weights(self) -> Path:
        return self.out / "weights"


def _labels(dataset) -> list[str]:
    """The tasks the data's labels allow, the held-out seg evaluator beside seg."""
    return [t for task in dataset.tasks for t in ((task, "seg-holdout") if task == "seg" else (task,))]


def _shipped_manifest(stem: str, dataset: str, packaged: str) -> dict | None:
    """The manifest of the checkpoint the project ships for `dataset` (not the user's), or None."""
    from bench.checkpoints import weights_dirs

    path = weights_dirs(packaged)[-1] / f"{stem}-{dataset}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _measured(stem: str, dataset: str, packaged: str) -> float | None:
    """Training seconds behind the shipped checkpoint (its own run plus every --init run before it)."""
    manifest = _shipped_manifest(stem, dataset, packaged)
    if manifest is None:
        return None
    return float(manifest.get("train_seconds") or 0) + sum(float(a.get("train_seconds") or 0) for a in manifest.get("ancestry") or [])


def _fp32_slowdown() -> float:
    from bench.train.precision import native_bf16

    return 1.0 if native_bf16("cpu")[0] else FP32_SLOWDOWN


def shipped_runs(dataset: str) -> list[tuple[str, float, float]]:
    """(checkpoint, the plan's estimate for the steps its last run took, that run's measured seconds)
    for every shipped codec checkpoint of `dataset`: the estimator against the campaign's own runs."""
    rows = []
    for stem, rate in (*((c, SECONDS_PER_STEP[c]) for c in ANCHORS), ("mvmicnet-seg", SECONDS_PER_STEP["mvmicnet"]),
                       ("mvmicnet-det", SECONDS_PER_STEP["mvmicnet"])):
        manifest = _shipped_manifest(stem, dataset, "codecs")
        if manifest is None:
            continue
        command = [str(a) for a in manifest.get("command") or []]
        jobs = int(command[command.index("-j") + 1]) if "-j" in command else 1
        steps = sum(int(p.get("stage2_steps") or p.get("steps") or 0) for p in manifest["rate_points"])
        if manifest.get("precision") == "fp32" or "precision" not in manifest:
            rate *= 1.0 if stem.startswith("mvmicnet") else FP32_SLOWDOWN  # trained before bf16 (mvmicnet's figure is fp32)
        rows.append((f"{stem}-{dataset}", steps * rate / jobs, float(manifest["train_seconds"])))
    return rows


def _sets(values) -> list[str]:
    return [arg for v in values for arg in ("--set", v)]


def build_plan(data: str, budget: str, out: Path, jobs: int) -> Plan:
    from bench import registry
    from bench.datasets.spec import open_dataset

    if budget not in BUDGETS:
        raise BenchError(f"--budget '{budget}': choose one of {', '.join(BUDGETS)}")
    dataset = open_dataset(data)
    b, name, out = BUDGETS[budget], dataset.name, Path(out)
    weights = out / "weights"
    n_train = len(dataset.split("train"))
    if n_train == 0:
        raise BenchError(f"--data {data}: the train split is empty; reproduce trains every network on it")
    plan = Plan(data, name, budget, out, [])
    tasks = [t for t in _labels(dataset) if registry.plugins("task")[t].available]
    if not tasks:
        plan.notes.append(f"note: '{data}' has no masks or boxes: no task networks, MVMICNet or task figures; PSNR only")
    for task in tasks:
        cfg = b[task]
        target = weights / f"{task}-{name}.safetensors"
        argv = ["train-task", task, "--data", data, "--out", str(target)]
        if task == "seg-holdout":
            argv += ["--seed", "1"]  # an independent evaluator: another seed (and width)
        if cfg.get("epochs"):
            argv += ["--epochs", str(cfg["epochs"])]
        if cfg.get("batch_size"):
            argv += ["--batch-size", str(cfg["batch_size"])]
        argv += _sets(cfg["set"])
        epochs = cfg.get("epochs") or DEFAULT_EPOCHS[task]
        plan.steps.append(Step(f"train {task}", tuple(argv), target, epochs * n_train * SECONDS_PER_IMAGE_EPOCH[task],
                               target.with_suffix(".resume.pt") if task != "det" else None, _measured(task, name, "tasks")))
    kinds = {(s.channels, s.bit_depth) for s in dataset.samples}
    learned: list[str] = []
    if len(kinds) > 1:
        plan.notes.append(f"note: '{data}' mixes channel counts or bit depths ({sorted(kinds)}): a learned codec trains on "
                          "one kind of image, so the anchors and MVMICNet are left out; give one kind (e.g. phantom:mr8)")
    elif registry.plugins("codec")["mbt2018-mean"].available:
        learned = list(ANCHORS)
    anchor = b["anchor"]
    slowdown = _fp32_slowdown()
    if learned and slowdown != 1:
        plan.notes.append(f"note: this CPU has no native bf16: the anchors train in fp32, estimated {slowdown:g}x slower")
    for codec in learned:
        target = weights / f"{codec}-{name}.safetensors"
        argv = ["train-codec", codec, "--data", data, "-j", str(jobs), "--out", str(target)] + _sets(anchor["set"] + b.get(codec, {}).get("set", []))
        steps = anchor["first"] + anchor["finetune"] * (anchor["points"] - 1) / max(1, min(jobs, anchor["points"] - 1))
        plan.steps.append(Step(f"train {codec}", tuple(argv), target, steps * SECONDS_PER_STEP[codec] * slowdown, target.with_suffix(".resume.pt"),
                               _measured(codec, name, "codecs")))
    variants = [t for t in tasks if t in ("seg", "det")] if learned else []
    for task in variants:
        for control in (False, True):
            target = weights / f"mvmicnet-{task}{'-control' if control else ''}-{name}.safetensors"
            sets = b["mvmicnet"]["set"] + (["task_weight=0"] if control else [])
            argv = ["train-codec", "mvmicnet", "--task", task, "--data", data, "-j", str(jobs), "--out", str(weights)] + _sets(sets)
            seconds = b["mvmicnet"]["steps"] * anchor["points"] * SECONDS_PER_STEP["mvmicnet"] / max(1, min(jobs, anchor["points"]))
            plan.steps.append(Step(f"train mvmicnet {task}{' control' if control else ''}", tuple(argv), target, seconds,
                                   target.with_suffix(".resume.pt"), None if control else _measured(f"mvmicnet-{task}", name, "codecs")))
    classical = b["codecs"] or [c for c in registry.list("codec", available=True)
                                if getattr(registry.get("codec", c), "family", "") == "classical"]
    codecs = list(classical) + learned
    for task in variants:
        variant = "mvmicnet" if task == "seg" else f"mvmicnet:task={task}"
        codecs += [variant, f"{variant}:control=1" if task != "seg" else "mvmicnet:control=1"]
    results = out / "results"
    argv = ["run", "--data", data, "--codecs", ",".join(codecs), "--task", ",".join(tasks) or "none", "-j", str(jobs), "--out", str(results)]
    cells = len(dataset.split("test")) * (sum(6 for _ in classical) + 9 * (len(codecs) - len(classical)))
    plan.steps.append(Step("sweep", tuple(argv), results, cells * 0.5 / jobs))
    draws = str(b["draws"])
    anchor_codec = "vvc" if "vvc" in classical else "jpeg2000" if "jpeg2000" in classical else classical[0]
    plan.steps.append(Step("figures (paper layout)", ("figures", str(results), "--paper", "--anchor", anchor_codec, "--draws", draws,
                                                     "--out", str(out / "figures")), out / "figures", 30))
    for metric in (["dice"] if "seg" in tasks else []) + (["map50"] if "det" in tasks else []) + ["psnr"]:
        plan.steps.append(Step(f"bd-rates ({metric})", ("bdrate", str(results), "--anchor", anchor_codec, "--metric", metric, "--rising-part",
                                                        "--draws", draws, "--json"), out / f"bdrate-{metric}.json", 10, capture=True))
        plan.steps.append(Step(f"task-lossless ({metric})", ("lossless", str(results), "--metric", metric, "--draws", draws, "--json"),
                               out / f"lossless-{metric}.json", 10, capture=True))
    plan.steps.append(Step("HTML report", ("report", str(results), "--anchor", anchor_codec, "--draws", draws, "--out", str(out / "report")),
                           out / "report" / "report.html", 60))
    return plan


def hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{math.ceil(seconds / 60):.0f} min"
