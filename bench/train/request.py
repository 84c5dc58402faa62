"""What `bench train-codec` asks of a trainable codec, in one object: each codec class declares
how it trains (`train`) and which recipe its training benchmark times (`training_recipe`), so the
CLI dispatches through the codec, never by its name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def train_task(task_cls, dataset, config) -> dict:
    """Train `task_cls`'s network through the recipe it declares (`Task.trainer`, "module:function")."""
    import importlib

    from bench.errors import BenchError

    if not task_cls.trainer:
        raise BenchError(f"task '{task_cls.name}' declares no trainer")
    module, _, function = task_cls.trainer.partition(":")
    return getattr(importlib.import_module(module), function)(task_cls, dataset, config)


def codec_trainer(codec_cls):
    """The module a trainable codec names as its `trainer` (it defines `train` and `benchmark_recipe`)."""
    import importlib

    from bench.errors import BenchError

    if not getattr(codec_cls, "trainer", ""):
        raise BenchError(f"codec '{codec_cls.name}' is not a trainable learned codec")
    return importlib.import_module(codec_cls.trainer)


@dataclass
class TrainRequest:
    dataset: Any
    out: Path | None  # None: `default_out` (a file; MVMICNet writes its folder)
    default_out: Path
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    resume: bool = False
    init: Path | None = None
    jobs: int = 1
    tasks: list[str] = field(default_factory=list)  # MVMICNet: the tasks stage 2 trains against
    stage: int | None = None  # MVMICNet: 1 or 2 alone
    show_progress: bool = True
