"""One training loop for every trainer here; a recipe declares only what its steps are.

The `Trainer` owns what every loop needs: seeds and threads, precision (bf16 autocast where it is
native, `precision.py`), the learning-rate schedule (linear warm-up, cosine decay) of each point,
the optimiser steps (gradient clipping, the entropy models' aux step), non-finite steps, the
per-step CSV log, selection of the best weights on val, the periodic resumable save (exact
`--resume`), a wall-clock budget (`time_budget_s`) and `--init` from committed weights with their
ancestry. A recipe (`codec.py`, `mvmicnet.py`) says what a training step, a validation and the end
of a point are, the split PyTorch Lightning makes between its Trainer and a LightningModule.

A run trains a list of *points* (a codec's λ ladder; one point for a task network), one after
another. Each point starts with a fresh optimiser and its own warm-up, from the weights the recipe
chooses (from scratch, the previous point's selection, or `--init`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

LOOP_DEFAULTS: dict[str, Any] = {
    "precision": "auto",  # auto: bf16 autocast where the device has native bf16, else fp32 (precision.py)
    "channels_last": "auto",  # auto: on with bf16 (it is what makes bf16 fast on CPU), off with fp32
    "compile": False,  # torch.compile the convolutional transforms
    "threads": None,  # torch threads; None: every core
    "time_budget_s": None,  # stop within this many seconds of training, every point's best weights kept
    "lr_by_time": True,  # with a budget, the cosine decay also follows the point's share of it (so a cut run anneals)
    "val_every": 250,
    "checkpoint_every_s": 300,
    "clip_grad": 1.0,
    "warmup_steps": 100,
}
MAX_BAD_STEPS = 50
FINISH_RESERVE = 1.5  # a point's share of the budget leaves this many times the last measured end-of-point cost


class Recipe:
    """What a trainer declares. Subclasses set `name`, `log_fields` and `opts` and implement the hooks."""

    name = "recipe"
    log_fields: list[str] = []
    fp32_modules: tuple[str, ...] = ()  # submodules kept in fp32 under bf16 autocast
    compile_modules: tuple[str, ...] = ()  # submodules torch.compile'd with compile=True
    opts: dict[str, Any]
    init: "InitCheckpoint | None" = None  # set by the Trainer: the --init checkpoint

    def config(self) -> dict:
        """What must match for `--resume` to continue a saved state."""
        raise NotImplementedError

    def build(self, device: str):
        """The network to train, on `device`."""
        raise NotImplementedError

    def points(self) -> list[dict]:
        """One dict per point, each with at least `steps` and a `label` for the progress bar."""
        raise NotImplementedError

    def begin_point(self, i: int, model, done: list[dict]) -> None:
        """Load point i's starting weights into `model` (the records of finished points are in `done`)."""
        raise NotImplementedError

    def training_step(self, i: int, model, rng: np.random.Generator):
        """(loss tensor, log row) of one batch; runs under the precision's autocast."""
        raise NotImplementedError

    def after_step(self, i: int, row: dict) -> None:
        """Bookkeeping after an optimiser step (e.g. loss balancing)."""

    def validate(self, i: int, model) -> dict[str, float]:
        """Val figures of the current weights; `val_loss` selects."""
        raise NotImplementedError

    def finish_point(self, i: int, model, best: dict, steps: int) -> dict:
        """The point's record (model holds the selected weights, on the CPU; `steps` trained in this run):
        measured on val, without weights."""
        raise NotImplementedError

    def optimisers(self, model, lr: float):
        """(parameters to clip, main optimiser, aux optimiser or None)."""
        raise NotImplementedError

    def aux_loss(self, model):
        return None

    def state(self) -> dict:
        """Recipe state that a resume must restore (e.g. the task balance)."""
        return {}

    def load_state(self, state: dict) -> None:
        pass


class InitCheckpoint:
    """Committed weights a run continues from (`--init FILE`): per-point weights, manifest, ancestry."""

    def __init__(self, path: Path, fingerprint: str | None) -> None:
        from bench.checkpoints import file_sha256, load_checkpoint

        self.path = Path(path)
        if not self.path.is_file():
            raise BenchError(f"--init: no checkpoint at {self.path}")
        self.state, self.manifest = load_checkpoint(self.path, fingerprint)
        self.sha256 = file_sha256(self.path)

    def point(self, j: int) -> dict:
        prefix = f"p{j}."
        return {k[len(prefix):]: v for k, v in self.state.items() if k.startswith(prefix)}

    def ancestry(self) -> list[dict]:
        """This checkpoint's own ancestry, then itself: the chain of runs the continued weights went through."""
        m = self.manifest
        mine = {"checkpoint": self.path.name, "sha256": self.sha256, "train_seconds": m.get("train_seconds"),
                "command": m.get("command"), "precision": m.get("precision", "fp32"),
                "rate_points": [{k: p.get(k) for k in ("lambda", "steps", "total_steps", "val_bpp", "val_psnr_decoded") if k in p}
                                for p in m.get("rate_points", [])]}
        return list(m.get("ancestry", [])) + [mine]


def loop_options(opts: dict[str, Any]) -> dict[str, Any]:
    for key in ("time_budget_s",):
        if opts.get(key) is not None and float(opts[key]) <= 0:
            raise BenchError(f"--set {key}={opts[key]}: must be positive")
    return opts


class Trainer:
    """Runs a recipe's points to the end or to the time budget; resumable, with the best val weights kept."""

    def __init__(self, recipe: Recipe, out: Path, seed: int = 0, device: str = "cpu", resume: bool = False,
                 init: Path | None = None, fingerprint: str | None = None, show_progress: bool = True) -> None:
        self.recipe, self.out, self.seed, self.device, self.resume = recipe, Path(out), seed, device, resume
        self.init = InitCheckpoint(init, fingerprint) if init else None
        recipe.init = self.init
        self.show_progress = show_progress
        self.resume_path = self.out.with_name(f"{self.out.stem}.resume.pt")
        self.opts = loop_options(recipe.opts)

    # --- set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Threads, precision, seeds, the network and its optimisers: everything before the first step."""
        import os

        import torch

        from bench.train.precision import pick_precision, prepare

        torch.set_num_threads(int(self.opts["threads"] or os.cpu_count() or 1))
        self.precision, self.precision_why = pick_precision(str(self.opts["precision"]), self.device)
        cl = self.opts["channels_last"]
        self.channels_last = (self.precision == "bf16") if cl in ("auto", None) else bool(cl) and cl not in ("false", "off")
        torch.manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        model = self.recipe.build(self.device)
        self.model = prepare(model, list(self.recipe.fp32_modules), self.precision, self.device, self.channels_last,
                             list(self.recipe.compile_modules) if self.opts["compile"] else [])
        self._new_optimisers()
        self.st: dict[str, Any] = {"point": 0, "step_in_point": 0, "step": 0, "points": [], "best": None,
                                   "elapsed_s": 0.0, "fresh": True, "bad_steps": 0, "point_started_s": 0.0,
                                   "finish_cost_s": 0.0, "val_s": 0.0, "last_val_step": -1, "stopped_by_budget": False}

    def _new_optimisers(self) -> None:
        self.clip_params, self.optim, self.aux_optim = self.recipe.optimisers(self.model, float(self.recipe.opts["lr"]))

    def _config(self) -> dict:
        return {"recipe": self.recipe.config(), "seed": self.seed, "init": self.init.sha256 if self.init else None,
                "precision": self.precision, "channels_last": self.channels_last}

    # --- resumable state ---------------------------------------------------------------------------
    def _save(self) -> None:
        from bench.train.resume import capture_rng, save_state

        save_state(self.resume_path, {"config": self._config(), "model": self.model.state_dict(),
                                      "optim": self.optim.state_dict(),
                                      "aux_optim": self.aux_optim.state_dict() if self.aux_optim else None,
                                      "state": self.st, "recipe": self.recipe.state(), "rng": capture_rng(self.rng)})
        self.last_save = time.perf_counter()

    def _restore(self) -> bool:
        from bench.train.resume import load_state, restore_rng

        if not self.resume_path.is_file():
            raise BenchError(f"--resume: no saved state at {self.resume_path}")
        blob = load_state(self.resume_path)
        if blob["config"] != self._config():
            raise BenchError(f"--resume: {self.resume_path} was saved for another configuration; remove it or drop --resume")
        self.model.load_state_dict(blob["model"])
        self.optim.load_state_dict(blob["optim"])
        if self.aux_optim is not None:
            self.aux_optim.load_state_dict(blob["aux_optim"])
        self.recipe.load_state(blob["recipe"])
        restore_rng(blob["rng"], self.rng)
        self.st = blob["state"]
        return True

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> tuple[list[dict], dict]:
        """Train every point; returns (point records with their selected `weights`, run facts for the manifest)."""
        from bench.train.steplog import StepLog

        self.setup()
        plan = self.recipe.points()
        if self.resume:
            self._restore()
        fields = ["step", "point", "lr"] + self.recipe.log_fields + ["val_s", "best", "elapsed_s"]
        self.log = StepLog(self.out.with_suffix(".csv"), fields, resume_from_step=self.st["step"] if self.resume else None)
        started = time.perf_counter() - self.st["elapsed_s"]
        self.last_save = time.perf_counter()
        with self._progress(plan) as (progress, bar):
            while self.st["point"] < len(plan):
                i = self.st["point"]
                if self.st["fresh"]:
                    self.recipe.begin_point(i, self.model, self.st["points"])
                    self._new_optimisers()
                    self.st.update(fresh=False, best=None, step_in_point=0, point_started_s=self.st["elapsed_s"])
                    progress.update(bar, description=f"{self.recipe.name} {plan[i]['label']}")
                self._train_point(i, plan[i], len(plan), started, progress, bar)
                finish_started = time.perf_counter()
                self._finish_point(i)
                self.st["finish_cost_s"] = time.perf_counter() - finish_started
                self.st.update(point=i + 1, fresh=True, best=None)
                self.st["elapsed_s"] = time.perf_counter() - started
                self._save()
        facts = {"precision": self.precision, "precision_why": self.precision_why, "channels_last": self.channels_last,
                 "compile": bool(self.opts["compile"]), "train_seconds": round(self.st["elapsed_s"], 1),
                 "val_seconds": round(self.st["val_s"], 1), "time_budget_s": self.opts["time_budget_s"],
                 "stopped_by_budget": self.st["stopped_by_budget"]}
        if self.init:
            facts.update(init={"checkpoint": self.init.path.name, "sha256": self.init.sha256}, ancestry=self.init.ancestry())
        return self.st["points"], facts

    def _share_s(self, n_points: int) -> float | None:
        """This point's share of what is left of the time budget (None: no budget)."""
        budget = self.opts["time_budget_s"]
        if budget is None:
            return None
        left_points = n_points - self.st["point"]
        left = float(budget) - self.st["point_started_s"] - FINISH_RESERVE * self.st["finish_cost_s"] * left_points
        return max(left / left_points, 1.0)

    def _train_point(self, i: int, point: dict, n_points: int, started: float, progress, bar) -> None:
        steps, val_every = int(point["steps"]), int(self.opts["val_every"])
        share = self._share_s(n_points)
        while self.st["step_in_point"] < steps:
            in_point_s = self.st["elapsed_s"] - self.st["point_started_s"]
            if share is not None and in_point_s >= share:
                self.st["stopped_by_budget"] = True
                break
            k = self.st["step_in_point"]
            fraction = max(k / steps, in_point_s / share if share and self.opts["lr_by_time"] else 0.0)
            lr = self._set_lr(min(fraction, 1.0), k)
            row = self.train_step(i)
            if row is None:  # skipped; a run that keeps diverging stops with a clear error
                if self.st["bad_steps"] > MAX_BAD_STEPS:
                    raise BenchError(f"{self.recipe.name}: the loss stayed non-finite for {MAX_BAD_STEPS} steps at "
                                     f"{point['label']} (step {self.st['step']}); lower lr with --set lr=...")
                continue
            self.st["step_in_point"] += 1
            self.st["step"] += 1
            row.update(step=self.st["step"], point=i, lr=f"{lr:.3g}")
            if self.st["step_in_point"] % val_every == 0 or self.st["step_in_point"] == steps:
                self._validate(i, row, progress, bar)
            self.st["elapsed_s"] = time.perf_counter() - started
            row["elapsed_s"] = f"{self.st['elapsed_s']:.1f}"
            self.log.append(row)
            progress.update(bar, advance=1, **self._budget_left(started))
            if time.perf_counter() - self.last_save > float(self.opts["checkpoint_every_s"]):
                self._save()
        if self.st["best"] is None or self.st["last_val_step"] != self.st["step_in_point"]:
            self._validate(i, {}, progress, bar)  # the budget cut the point: its last weights are judged too

    def train_step(self, i: int) -> dict | None:
        """One optimiser step of point i (the training benchmark times exactly this); None when the loss
        was not finite and the step was skipped."""
        import torch

        from bench.train.precision import autocast

        with autocast(self.precision, self.device):
            loss, row = self.recipe.training_step(i, self.model, self.rng)
        if not torch.isfinite(loss):
            self.st["bad_steps"] += 1
            self.optim.zero_grad(set_to_none=True)
            return None
        self.st["bad_steps"] = 0
        self._step(loss, row)
        self.recipe.after_step(i, row)
        return row

    def _set_lr(self, fraction: float, k: int) -> float:
        lr, lr_final = float(self.recipe.opts["lr"]), float(self.recipe.opts["lr_final"])
        rate = lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * fraction))
        rate *= min(1.0, (k + 1) / max(int(self.opts["warmup_steps"]), 1))
        for group in self.optim.param_groups:
            group["lr"] = rate
        return rate

    def _step(self, loss, row: dict) -> None:
        import torch

        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        if self.opts["clip_grad"]:
            torch.nn.utils.clip_grad_norm_(self.clip_params, float(self.opts["clip_grad"]))
        self.optim.step()
        if self.aux_optim is not None:
            aux = self.recipe.aux_loss(self.model)
            self.aux_optim.zero_grad(set_to_none=True)
            aux.backward()
            self.aux_optim.step()
            row["aux"] = f"{float(aux.detach()):.4g}"

    def _validate(self, i: int, row: dict, progress, bar) -> None:
        t = time.perf_counter()
        val = self.recipe.validate(i, self.model)
        self.st["last_val_step"] = self.st["step_in_point"]
        spent = time.perf_counter() - t
        self.st["val_s"] += spent
        best = self.st["best"]
        better = best is None or val["val_loss"] < best["val_loss"]
        if better:
            self.st["best"] = {**val, "step": self.st["step_in_point"],
                               "weights": {k: v.detach().cpu().contiguous().clone() for k, v in self.model.state_dict().items()}}
        row.update({k: f"{v:.5f}" for k, v in val.items()}, best=int(better), val_s=f"{spent:.2f}")
        if "val_psnr" in val:  # a codec: quality at rate
            info = f"val {val['val_psnr']:.2f} dB @ {val.get('val_bpp_est', float('nan')):.3f} bpp(est)"
        else:  # a task network: its own figures
            info = "val " + ", ".join(f"{k.removeprefix('val_')} {v:.4f}" for k, v in val.items() if k != "val_loss")
        progress.update(bar, info=info)
        if not progress.console.is_terminal and self.show_progress:  # a log file sees progress too, once per validation
            progress.console.print(f"{self.recipe.name} point {i} step {self.st['step_in_point']}: {info}"
                                   f"{' (best)' if better else ''}, {self.st['elapsed_s']:.0f} s", highlight=False)

    def _finish_point(self, i: int) -> None:
        from bench.checkpoints import as_stored

        best = self.st["best"]
        self.model.load_state_dict(as_stored(best["weights"]))
        record = self.recipe.finish_point(i, self.model.to("cpu").eval(), best, self.st["step_in_point"])
        self.model.to(self.device).train()
        record.update(selected_step=best["step"], weights=best["weights"])
        self.st["points"].append(record)

    def _budget_left(self, started: float) -> dict:
        """Progress fields for a time-budgeted run, whose step total (`finetune_steps`) is a ceiling,
        not a forecast: the ETA is what is left of the budget."""
        budget = self.opts["time_budget_s"]
        if budget is None:
            return {}
        left = max(float(budget) - (time.perf_counter() - started), 0.0)
        return {"eta_s": left, "budget_left": f"{int(left // 60)} min"}

    def _progress(self, plan):
        from contextlib import contextmanager

        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from bench.progress import progress_bars

        @contextmanager
        def bars():
            budgeted = self.opts["time_budget_s"] is not None
            remaining = TextColumn("budget left {task.fields[budget_left]}") if budgeted else TimeRemainingColumn()
            progress = progress_bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                                     TimeElapsedColumn(), remaining, disable=not self.show_progress, unit="steps")
            with progress:
                total = sum(int(p["steps"]) for p in plan)
                fields = {"budget_left": "-", "eta_s": None} if budgeted else {}
                yield progress, progress.add_task(self.recipe.name, total=total, completed=self.st["step"], info="", **fields)

        return bars()


def lineage_steps(init: InitCheckpoint | None, j: int | None, steps: int, key: str = "total_steps", first: str = "steps") -> int:
    """Total steps behind a point's weights: what its init point had been trained (`key`, or `first`
    where that point was the first of its line), plus this run's."""
    if init is None or j is None:
        return steps
    p = init.manifest["rate_points"][j]
    return int(p.get(key, p.get(first, 0)) or 0) + steps
