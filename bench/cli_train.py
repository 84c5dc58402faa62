"""`bench train-task` and `bench train-codec`: training commands. Each dispatches through what the
task or codec declares (`Task.trainer`, the codec's `trainer` module), never by its name."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from bench.api import default_out, split_list
from bench.cli_common import default_dataset_name, parse_settings, print_json
from bench.errors import BenchError


def register(app: typer.Typer, err: Console) -> None:
    @app.command("train-task")
    def train_task_cmd(
        task: str = typer.Argument(..., help="Task to train: seg or det (see `bench run --task`)."),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset NAME or NAME:PATH; trains on its train split, selects on val. Default: as `bench run`."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint path. Default: $BENCH_WEIGHTS_DIR or ./weights, as <task>-<dataset>.pt (found there by `bench run`)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs. Default: the task's own."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size. Default: the task's own."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda[:N]."),
        settings: list[str] = typer.Option([], "--set", help="KEY=VALUE training option of the task (repeatable), e.g. --set base=24; recorded in the manifest."),
        resume: bool = typer.Option(False, "--resume", help="seg: continue exactly from <out>.resume.pt, saved every few minutes."),
        init: Optional[Path] = typer.Option(None, "--init", help="Start from these weights instead of from scratch (seg: the same network; det: any of our detectors, every layer that fits is transferred)."),
    ) -> None:
        """Train a task network on a dataset and save checkpoint, manifest and per-step log."""
        from bench import registry
        from bench.datasets.spec import open_dataset
        from bench.device import resolve_device
        from bench.tasks.base import TrainConfig

        task_cls = registry.get("task", task)
        dataset = open_dataset(data or default_dataset_name(err))
        if epochs is not None and epochs < 1:
            raise BenchError(f"--epochs must be at least 1, got {epochs}")
        options = parse_settings(settings)
        target = out or default_out(task, dataset.name)
        if init is not None and not init.is_file():
            raise BenchError(f"--init: no checkpoint at {init}")
        from bench.train.request import train_task

        manifest = train_task(task_cls, dataset, TrainConfig(out=target, epochs=epochs, batch_size=batch_size, seed=seed,
                                                             device=resolve_device(device), options=options, resume=resume, init=init))
        err.print(f"checkpoint -> {target}")
        print_json(manifest.get("metrics", {}))


    @app.command("train-codec")
    def train_codec_cmd(
        codec: str = typer.Argument(..., help="Learned codec to train: bmshj2018-hyperprior, mbt2018-mean, cheng2020-anchor or mvmicnet."),
        data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset NAME or NAME:PATH; trains on its train split, selects on val. Default: as `bench run`."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint path (mvmicnet: a folder). Default: $BENCH_WEIGHTS_DIR or ./weights, as <codec>-<dataset>.safetensors (found there by `bench run`)."),
        task: Optional[str] = typer.Option(None, "--task", "-t", help="mvmicnet only: the task(s) stage 2 trains against, seg, det or seg,det (the joint variant)."),
        stage: Optional[int] = typer.Option(None, "--stage", help="mvmicnet only: 1 or 2 alone. Default: both (stage 1 reuses the mbt2018-mean checkpoint when it exists)."),
        seed: int = typer.Option(0, "--seed", help="Random seed."),
        device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda[:N]."),
        resume: bool = typer.Option(False, "--resume", help="Continue from <out>.resume.pt, saved every few minutes, exactly where it stopped."),
        init: Optional[Path] = typer.Option(None, "--init", help="Continue from committed weights (weights only, fresh optimiser, per rate point); recorded as the checkpoint's ancestry."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Train rate points side by side in this many one-thread processes (after the first point, unless --init). Default: every core (the faster arrangement on CPU, results/benchmarks/training)."),
        benchmark: bool = typer.Option(False, "--benchmark", help="Time the real training step in every precision / channels_last / compile / thread configuration instead of training."),
        as_json: bool = typer.Option(False, "--json", help="With --benchmark: one JSON record per configuration on stdout."),
        skip_compile: bool = typer.Option(False, "--skip-compile", help="With --benchmark: leave out the torch.compile configurations (compiling cheng2020-anchor takes many minutes on 2 cores)."),
        settings: list[str] = typer.Option([], "--set", help="KEY=VALUE training option (repeatable): N, M, lambdas=[..], steps, finetune_steps, batch_size, crop, lr, precision=auto|fp32|bf16, time_budget_s, ... (mvmicnet: stage-2 options, stage1.KEY for stage 1)."),
    ) -> None:
        """Rate–distortion training of a learned codec (a λ ladder), resumable; writes every rate point.
        For mvmicnet: stage 1 (rate–distortion) then stage 2 (+ the frozen task network's loss)."""
        from bench import registry
        from bench.datasets.spec import open_dataset
        from bench.device import resolve_device

        from bench.train.request import TrainRequest, codec_trainer

        codec_cls = registry.get("codec", codec)
        trainer = codec_trainer(codec_cls)
        if jobs is None:
            import os

            jobs = (os.cpu_count() or 1) if resolve_device(device) == "cpu" else 1
        if jobs < 1:
            raise BenchError(f"--jobs must be at least 1, got {jobs}")
        if (as_json or skip_compile) and not benchmark:
            raise BenchError(f"{'--json' if as_json else '--skip-compile'} applies to --benchmark only")
        if init is not None and not init.is_file():
            raise BenchError(f"--init: no checkpoint at {init}")
        dataset = open_dataset(data or default_dataset_name(err))
        request = TrainRequest(dataset, out, default_out(codec, dataset.name), parse_settings(settings), seed=seed,
                               device=resolve_device(device), resume=resume, init=init, jobs=jobs,
                               tasks=split_list(task, "--task") if task else [], stage=stage)
        codec_cls.check_train_request(request)
        if benchmark:
            from bench.train.benchmark_cli import benchmark_command

            print(benchmark_command(codec_cls, request, as_json, progress=lambda line: err.print(line, highlight=False),
                                    skip_compile=skip_compile))
            return
        manifest, target = trainer.train(codec_cls, request)
        err.print(f"checkpoint(s) -> {target}")
        print_json(manifest["rate_points"])
