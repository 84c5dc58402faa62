"""`bench train-codec NAME --benchmark`: seconds per real training step in each precision, layout,
compile and thread configuration, measured side by side in one process.

Why: whether bf16, channels_last or torch.compile pay depends on the CPU and the model, and
the defaults (`precision=auto`) must be backed by a measurement on the machine at hand. Each
configuration gets its own copy of the recipe's network (same seed), warms up (compiling, where
asked), then the repetitions are interleaved: configuration A, B, C, ... then again, so a load
that comes and goes hits every configuration alike. A step is the Trainer's own `train_step`:
the recipe's loss on a real batch, backward, the optimiser and aux steps. A last record measures
two one-thread processes training at once (the `-j 2` arrangement) against the machine's cores.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any, Callable

Factory = Callable[[dict], Any]  # options -> Recipe; picklable (a module-level function or partial)


def configurations(threads: list[int]) -> list[dict]:
    return [{"precision": p, "channels_last": cl, "compile": c, "threads": t}
            for p, cl, c, t in itertools.product(("fp32", "bf16"), (False, True), (False, True), threads)]


def _allow_recompiles() -> None:
    """Every compiled copy of a network shares its forward's code object, and dynamo's per-code cache
    (8 entries) would fall back to eager after a few configurations: room for all of them."""
    import torch._dynamo

    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(64, getattr(torch._dynamo.config, name)))


def _trainer(factory: Factory, config: dict, device: str):
    from bench.train.trainer import Trainer

    recipe = factory({"precision": config["precision"], "channels_last": config["channels_last"], "compile": config["compile"],
                      "threads": config["threads"]})
    trainer = Trainer(recipe, "/nonexistent/benchmark", device=device, show_progress=False)
    trainer.setup()
    recipe.begin_point(0, trainer.model, [])
    return trainer


def _time_steps(trainer, threads: int, steps: int) -> float:
    import torch

    torch.set_num_threads(threads)
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(0)
    return (time.perf_counter() - started) / steps


def run_benchmark(factory: Factory, batch: int, device: str = "cpu", threads: list[int] | None = None, steps: int = 4,
                  repeats: int = 3, warmup: int = 2, default: dict | None = None, with_processes: bool = True,
                  progress: Callable[[str], None] | None = None, configs_filter: Callable[[dict], bool] | None = None) -> list[dict]:
    """One record per configuration: precision, channels_last, compile, threads, s_per_step (median of
    the interleaved repetitions), crops_per_s, default."""
    import os

    threads = threads or sorted({1, min(2, os.cpu_count() or 1)})
    _allow_recompiles()
    configs = [c for c in configurations(threads) if configs_filter is None or configs_filter(c)]
    trainers = {}
    for config in configs:  # warm-up (and compile: inductor's code depends on the thread count) of each configuration
        key = (config["precision"], config["channels_last"], config["compile"])
        if key not in trainers:
            trainers[key] = _trainer(factory, config, device)
        _time_steps(trainers[key], config["threads"], warmup)
        if progress:
            progress(f"warmed up {key} on {config['threads']} thread(s)")
    times: dict[int, list[float]] = {i: [] for i in range(len(configs))}
    for r in range(repeats):
        for i, config in enumerate(configs):
            trainer = trainers[(config["precision"], config["channels_last"], config["compile"])]
            times[i].append(_time_steps(trainer, config["threads"], steps))
        if progress:
            progress(f"repetition {r + 1}/{repeats} done")
    records = []
    for i, config in enumerate(configs):
        s = statistics.median(times[i])
        records.append({**config, "processes": 1, "s_per_step": round(s, 4), "crops_per_s": round(batch / s, 2),
                        "default": bool(default) and default.get("processes", 1) == 1 and all(config[k] == default[k] for k in config)})
    if with_processes and default and len(threads) > 1:
        record = _two_processes(factory, default, batch, device, steps * repeats, warmup)
        records.append({**record, "default": default.get("processes", 1) == 2})
    return records


def _one_process(factory: Factory, config: dict, device: str, steps: int, warmup: int, barrier, queue) -> None:
    _allow_recompiles()
    trainer = _trainer(factory, config, device)
    _time_steps(trainer, 1, warmup)
    barrier.wait()  # both processes time the same stretch of wall clock
    queue.put(_time_steps(trainer, 1, steps))


def _two_processes(factory: Factory, default: dict, batch: int, device: str, steps: int, warmup: int) -> dict:
    """The `-j 2` arrangement: two one-thread processes training at once; aggregate crops per second."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(2)
    config = {k: default[k] for k in ("precision", "channels_last", "compile")} | {"threads": 1}
    procs = [ctx.Process(target=_one_process, args=(factory, config, device, steps, warmup, barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    per_step = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    s = statistics.mean(per_step)
    return {**config, "processes": 2, "s_per_step": round(s, 4), "crops_per_s": round(2 * batch / s, 2), "default": False}


def table(records: list[dict], name: str) -> str:
    """Markdown: one row per configuration, with the speed-up against fp32 on one thread in one process."""
    base = next(r for r in records if r["precision"] == "fp32" and not r["channels_last"] and not r["compile"]
                and r["threads"] == 1 and r["processes"] == 1)
    lines = [f"**{name}**", "", "| precision | channels_last | compile | threads × processes | s/step | crops/s | vs fp32 1 thread | default |",
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['precision']} | {'on' if r['channels_last'] else 'off'} | {'on' if r['compile'] else 'off'} | "
                     f"{r['threads']} × {r['processes']} | {r['s_per_step']:.3f} | {r['crops_per_s']:.1f} | "
                     f"{r['crops_per_s'] / base['crops_per_s']:.2f}× | {'yes' if r['default'] else ''} |")
    return "\n".join(lines)
