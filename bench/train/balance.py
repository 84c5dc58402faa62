"""Dynamic balance of the task term(s) against rate–distortion in MVMICNet's stage 2.

α_k(t) = β · w_k(t) · EMA(λ·D) / EMA(L_k)

- The ratio of running means (loss-ratio normalisation) keeps each task term at β times the
  distortion term's size whatever the loss's own scale (Dice+CE is ~1, the YOLO loss ~10), so β
  (`task_weight`) means the same for every task.
- w_k(t) is Dynamic Weight Averaging (Liu, Johns, Davison, "End-to-End Multi-Task Learning with
  Attention", CVPR 2019): a task whose loss falls slower over the last windows gets more weight,
  w_k = K·softmax(r_k / T) with r_k = L̄_k(window t−1) / L̄_k(window t−2); w_k = 1 until two windows
  have passed, and always 1 for a single task.
The weights are plain numbers (no gradient flows through them), logged at every step, and part
of the resumable state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TaskBalance:
    tasks: list[str]
    task_weight: float = 1.0  # β
    temperature: float = 2.0  # DWA's T
    window: int = 50  # steps per DWA window
    ema: float = 0.98
    state: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.state:
            self.state = {"distortion": None, "task": {k: None for k in self.tasks}, "sums": {k: 0.0 for k in self.tasks},
                          "count": 0, "windows": [], "dwa": {k: 1.0 for k in self.tasks}}

    def weights(self) -> dict[str, float]:
        """α_k for the next step (1·β until the running means exist)."""
        s = self.state
        out = {}
        for k in self.tasks:
            ratio = s["distortion"] / s["task"][k] if s["distortion"] and s["task"][k] else 1.0
            out[k] = self.task_weight * s["dwa"][k] * ratio
        return out

    def update(self, distortion: float, task_losses: dict[str, float]) -> None:
        s = self.state
        s["distortion"] = _ema(s["distortion"], distortion, self.ema)
        for k, value in task_losses.items():
            s["task"][k] = _ema(s["task"][k], value, self.ema)
            s["sums"][k] += value
        s["count"] += 1
        if s["count"] == self.window:
            s["windows"] = (s["windows"] + [{k: s["sums"][k] / self.window for k in self.tasks}])[-2:]
            s["sums"], s["count"] = {k: 0.0 for k in self.tasks}, 0
            if len(s["windows"]) == 2 and len(self.tasks) > 1:
                previous, last = s["windows"]
                rates = {k: last[k] / max(previous[k], 1e-12) for k in self.tasks}
                top = max(rates.values())
                exps = {k: math.exp((r - top) / self.temperature) for k, r in rates.items()}
                total = sum(exps.values())
                s["dwa"] = {k: len(self.tasks) * e / total for k, e in exps.items()}


def _ema(old: float | None, new: float, decay: float) -> float:
    return new if old is None else decay * old + (1 - decay) * new
