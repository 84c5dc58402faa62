"""Pieces every training loop here shares: val selection of the best weights, the per-step
bookkeeping (elapsed time, log row, progress) and the periodic resumable save."""

from __future__ import annotations

import time
from typing import Callable


class PeriodicSave:
    """Calls `save` when `every_s` seconds have passed since the last save (or on `now`)."""

    def __init__(self, every_s: float, save: Callable[[], None]) -> None:
        self.every_s, self.save, self.last = float(every_s), save, time.perf_counter()

    def maybe(self) -> None:
        if time.perf_counter() - self.last > self.every_s:
            self.now()

    def now(self) -> None:
        self.save()
        self.last = time.perf_counter()


def keep_if_better(state: dict, val: dict, model, row: dict) -> bool:
    """Selection on val: keep a copy of the weights when the val loss is the best so far."""
    better = state["best"] is None or val["val_loss"] < state["best"]["val_loss"]
    if better:
        state["best"] = {**val, "step": state["step_in_point"],
                         "weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
    row.update({k: f"{v:.5f}" for k, v in val.items()}, best=int(better))
    return better


def end_step(state: dict, row: dict, started: float, log, progress, bar, saver: PeriodicSave) -> None:
    state["elapsed_s"] = time.perf_counter() - started
    row["elapsed_s"] = f"{state['elapsed_s']:.1f}"
    log.append(row)
    progress.update(bar, advance=1)
    saver.maybe()
