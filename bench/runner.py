"""The sweep: codec × quality × image, then each task on every decoded group.

`plan` validates the whole request (names, qualities, data, split, tasks, device) before
any work, so a mistake costs nothing and writes nothing. `execute` then runs one
codec × quality group at a time: its cells in parallel (`jobs`), finished cells from the
cache, and the tasks on the group's decoded images in the main process (where the GPU is).
"""

from __future__ import annotations

import json
import math
import time
from functools import partial
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
import multiprocessing

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench import registry
from bench.cache import Cache, key_of
from bench.cells import blank_row, build_codec, codec_instance, decode_cached, measure_cell
from bench.codecs.options import parse_spec
from bench.datasets.base import Dataset, Sample, image_hash
from bench.datasets.spec import open_dataset
from bench.device import resolve_device
from bench.errors import BenchError, UnsupportedInput
from bench.results import group_key
from bench.versions import quality_version

REFERENCE = "reference"


@dataclass
class RunConfig:
    codecs: list[str]  # specs: `name` or `name:key=value[:key=value]`
    data: str
    tasks: list[str] = field(default_factory=list)
    split: str = "test"
    limit: int | None = None
    qualities: list[float] | None = None  # one list for every codec; None = each codec's defaults
    jobs: int = 1
    device: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    bpp_targets: list[float] | None = None  # rate matching: each codec's quality nearest each mean bpp
    bpp_tolerance: float = 0.05


@dataclass
class Plan:
    config: RunConfig
    dataset: Dataset
    samples: list[Sample]
    codecs: dict[str, object]  # label (the spec, options sorted) -> codec instance (main process)
    qualities: dict[str, list[float]]
    tasks: dict[str, object]  # name -> task instance with its network loaded
    device: str
    rate_match: dict[str, list[dict]] = field(default_factory=dict)  # codec -> matches, with --bpp


def plan(config: RunConfig) -> Plan:
    if not config.codecs:
        raise BenchError("--codecs: no codec selected")
    if config.jobs < 1:
        raise BenchError(f"-j/--jobs must be at least 1, got {config.jobs}")
    if config.limit is not None and config.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {config.limit}")
    device = resolve_device(config.device)
    labels = [parse_spec(text).label for text in config.codecs]
    for label in labels:
        if labels.count(label) > 1:
            raise BenchError(f"--codecs: '{label}' is listed twice")
        build_codec(label, device)  # names and options checked before the data is read
    dataset = open_dataset(config.data)
    # the instances the cells use too, so learned codecs load their weights once per process
    codecs = {label: codec_instance(label, device, (dataset.name, dataset.fingerprint)) for label in labels}
    if config.bpp_targets is not None and config.qualities is not None:
        raise BenchError("--bpp and --quality both choose the rate points; give one of them")
    samples = dataset.split(config.split)[: config.limit]
    qualities, rate_match = {}, {}
    for name, codec in codecs.items():
        if config.bpp_targets is not None:
            from bench.ratematch import match_rates

            matches = match_rates(codec, samples, config.bpp_targets, config.bpp_tolerance)
            rate_match[name] = [m.record() for m in matches]
            qualities[name] = list(dict.fromkeys(m.quality for m in matches))
            continue
        wanted = config.qualities if config.qualities is not None else list(codec.scale.defaults)
        qualities[name] = [codec.scale.check(name, q) for q in wanted]
    tasks = {}
    for name in config.tasks:
        task_cls = registry.get("task", name)
        why_not = task_cls.supports(dataset)
        if why_not:
            raise BenchError(f"task '{name}' cannot run on '{config.data}': {why_not}")
        tasks[name] = task_cls(dataset, device=device)
    return Plan(config, dataset, samples, codecs, qualities, tasks, device, rate_match)


def _reference_rows(samples: list[Sample]) -> list[dict]:
    rows = []
    for s in samples:
        bits = s.bit_depth * s.channels
        rows.append({"bytes": math.ceil(s.image.size * s.bit_depth / 8), "bpp": float(bits), "psnr": math.inf,
                     "ms_ssim": 1.0, "encode_s": 0.0, "decode_s": 0.0, "status": "ok", "error": ""})
    return rows


@dataclass
class RunOutput:
    rows: list[dict]
    task_summaries: dict[tuple[str, float | None], dict]  # group_key(codec, quality) -> task summary figures
    cells_computed: int
    cells_cached: int
    wall_s: float
    task_columns: dict[str, list[str]] = field(default_factory=dict)  # task -> the result/summary columns it wrote


class _Executor:
    """Runs cells in-process (jobs=1) or in a spawn pool (safe with torch threads)."""

    def __init__(self, jobs: int) -> None:
        self.pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) if jobs > 1 else None

    def map(self, calls: list[tuple]) -> list[tuple]:
        if self.pool is None:
            return [measure_cell(*c) for c in calls]
        return list(self.pool.map(_measure_star, calls))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _measure_star(args: tuple):
    return measure_cell(*args)


def execute(p: Plan, show_progress: bool = True) -> RunOutput:
    start = time.perf_counter()
    cache = Cache(p.config.cache_dir, enabled=p.config.use_cache)
    hashes = [image_hash(s.image, s.bit_depth) for s in p.samples]
    groups = [(REFERENCE, math.nan)] + [(c, q) for c, qs in p.qualities.items() for q in qs]
    rows: list[dict] = []
    task_summaries: dict = {}
    computed = cached = 0
    task_columns: dict[str, dict] = {}  # task -> its columns, in first-seen order
    executor = _Executor(p.config.jobs)
    progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), disable=not show_progress, transient=False)
    try:
        with progress:
            bar = progress.add_task("sweep", total=len(groups) * len(p.samples))
            for codec_name, quality in groups:
                label = codec_name if math.isnan(quality) else f"{codec_name} {quality:g}"
                progress.update(bar, description=label)
                group_rows, decoded, keys, n_new, n_hit = _run_group(p, cache, executor, codec_name, quality, hashes)
                computed += n_new
                cached += n_hit
                progress.advance(bar, len(p.samples))
                for name, task in p.tasks.items():
                    progress.update(bar, description=f"{label} · {name}")
                    before = {k for r in group_rows for k in r}
                    summary = _run_task(cache, task, name, decoded, group_rows, keys, p.samples)
                    task_summaries.setdefault(group_key(codec_name, quality), {}).update(summary)
                    added = [k for r in group_rows for k in r if k not in before]
                    task_columns.setdefault(name, {}).update(dict.fromkeys([*summary, *added]))
                rows.extend(group_rows)
    finally:
        executor.close()
    return RunOutput(rows, task_summaries, computed, cached, time.perf_counter() - start,
                     {name: list(columns) for name, columns in task_columns.items()})


def _run_group(p: Plan, cache: Cache, executor: _Executor, codec_name: str, quality: float, hashes: list[str]):
    """Rows, decoded images and cell keys for one codec × quality group."""
    samples = p.samples
    options = "{}" if codec_name == REFERENCE else json.dumps(p.codecs[codec_name].settings, sort_keys=True)
    base = [{"codec": codec_name, "codec_options": options, "quality": quality, "image_id": s.id, "split": s.split, "modality": s.modality,
             "bit_depth": s.bit_depth, "height": s.image.shape[0], "width": s.image.shape[1], "channels": s.channels}
            for s in samples]
    if codec_name == REFERENCE:
        measured = _reference_rows(samples)
        return [b | m for b, m in zip(base, measured)], [s.image for s in samples], hashes, 0, 0
    codec = p.codecs[codec_name]
    device = p.device if codec.family == "learned" else "cpu"  # classical codecs never touch the GPU
    keys = [key_of(codec.fingerprint(), quality, quality_version(), h) for h in hashes]
    data = (p.dataset.name, p.dataset.fingerprint)
    measured: list = [None] * len(samples)
    decoded: list = [None] * len(samples)
    todo, hits = [], 0
    for i, (s, key) in enumerate(zip(samples, keys)):
        try:
            codec.check(s.image, quality, s.bit_depth)
        except UnsupportedInput as exc:
            measured[i] = blank_row("unsupported", str(exc))
            continue
        hit = cache.get_cell(key)
        if hit is not None:
            measured[i], hits = hit[0], hits + 1
            decoded[i] = partial(decode_cached, codec_name, hit[1], device, data)  # decoded only if a task needs it
        else:
            todo.append(i)
    results = executor.map([(codec_name, quality, samples[i].image, samples[i].bit_depth, device, data) for i in todo])
    for i, (row, stream, image) in zip(todo, results):
        measured[i], decoded[i] = row, image
        if row["status"] == "ok":
            cache.put_cell(keys[i], row, stream)
    return [b | m for b, m in zip(base, measured)], decoded, keys, len(todo), hits


def _run_task(cache: Cache, task, name: str, decoded: list, rows: list[dict], keys: list[str], samples: list[Sample]) -> dict:
    """Score the group's decoded images; per-image figures go into the rows, the rest is returned."""
    ok = [i for i, r in enumerate(rows) if r["status"] == "ok"]
    if not ok:
        return {}
    key = key_of("task", name, task.model_id(), task.scoring_version(), [keys[i] for i in ok])
    scores = cache.get_json(key)
    if scores is None:
        images = [decoded[i]() if callable(decoded[i]) else decoded[i] for i in ok]
        result = task.evaluate(images, [samples[i] for i in ok])
        scores = {"per_image": result.per_image, "summary": result.summary}
        cache.put_json(key, scores)
    for i, figures in zip(ok, scores["per_image"]):
        rows[i].update(figures)
    return scores["summary"]
