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


def codec_optimisers(model, lr: float, aux_lr: float):
    """Adam on the network, and a second Adam on the entropy bottleneck's quantiles (CompressAI's aux loss)."""
    import torch

    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return main, torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=aux_lr)


def cosine_lr(optim, k: int, steps: int, lr: float, lr_final: float, warmup_steps: int) -> float:
    """Sets and returns step k's rate: linear warm-up, then cosine from `lr` down to `lr_final`."""
    import math

    rate = lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * k / steps))
    rate *= min(1.0, (k + 1) / max(int(warmup_steps), 1))
    for group in optim.param_groups:
        group["lr"] = rate
    return rate


def codec_step(model, loss, main_params, optim, aux_optim, clip_grad: float | None):
    """One optimiser step on `loss`, then one on the aux loss; returns the aux loss."""
    import torch

    optim.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad:
        torch.nn.utils.clip_grad_norm_(main_params, float(clip_grad))
    optim.step()
    aux = model.aux_loss()
    aux_optim.zero_grad(set_to_none=True)
    aux.backward()
    aux_optim.step()
    return aux


def save_training(path, config: dict, model, optim, aux_optim, state: dict, rng) -> None:
    """The full resumable state: weights, both optimisers, loop bookkeeping and every RNG."""
    from bench.train.resume import capture_rng, save_state

    save_state(path, {"config": config, "model": model.state_dict(), "optim": optim.state_dict(),
                      "aux_optim": aux_optim.state_dict(), "state": state, "rng": capture_rng(rng)})


def resume_training(path, config: dict, model, optim, aux_optim, rng, missing_ok: bool = False) -> dict | None:
    """Restores what `save_training` wrote, refusing state saved for another configuration; the loop state, or None."""
    from pathlib import Path

    from bench.errors import BenchError
    from bench.train.resume import load_state, restore_rng

    if not Path(path).is_file():
        if missing_ok:
            return None
        raise BenchError(f"--resume: no saved state at {path}")
    blob = load_state(path)
    if blob["config"] != config:
        raise BenchError(f"--resume: {path} was saved for another configuration; remove it or drop --resume")
    model.load_state_dict(blob["model"])
    optim.load_state_dict(blob["optim"])
    aux_optim.load_state_dict(blob["aux_optim"])
    restore_rng(blob["rng"], rng)
    return blob["state"]
