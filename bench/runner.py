"""The sweep: codec × quality × image, then each task on every decoded group.

`plan` validates the whole request (names, qualities, data, split, tasks, device) before
any work, so a mistake costs nothing and writes nothing. `execute` takes finished cells from
the cache and hands every other cell of every group to one executor (`bench/executors/`: in this
process, a local pool of `jobs` workers, or Dask); as each group's last cell comes back, the
tasks score its decoded images here in the main process (where the GPU is).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench import registry
from bench.cache import Cache, key_of
from bench.cells import blank_row, build_codec, codec_instance, codes_in_main, decode_cached, group_key
from bench.codecs.options import parse_spec, resolve
from bench.datasets.base import Dataset, Sample, image_hash
from bench.datasets.spec import open_dataset
from bench.device import resolve_device
from bench.errors import BenchError, UnsupportedInput
from bench.device import cores_left_to_main
from bench.executors import Cell, Executor, make_executor, prewarm, uses_pool
from bench.progress import progress_bars
from bench.versions import quality_version

REFERENCE = "reference"


@dataclass
class RunConfig:
    codecs: list[str]  # specs: `name` or `name:key=value[:key=value]`
    data: str
    tasks: list[str] = field(default_factory=list)  # `name` or `name:weights=FILE` (a network trained elsewhere)
    split: str = "test"
    limit: int | None = None
    qualities: list[float] | None = None  # one list for every codec; None = each codec's defaults
    jobs: int = 1  # cell workers (the CLI's default: every core)
    device: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    bpp_targets: list[float] | None = None  # rate matching: each codec's quality nearest each mean bpp
    bpp_tolerance: float = 0.05
    executor: str = "local"  # local (in-process for one job, else a process pool) or dask
    scheduler: str | None = None  # dask: tcp://HOST:PORT; None starts a LocalCluster of `jobs` workers
    cell_timeout: float | None = None  # seconds one cell may take before its worker is killed (not in-process)
    trust_pickle: bool = False  # let a task load the user's pickled weights (Ultralytics .pt), which can run code


@dataclass
class Plan:
    config: RunConfig
    dataset: Dataset
    samples: list[Sample]
    codecs: dict[str, object]  # label (the spec, options sorted) -> codec instance (main process)
    qualities: dict[str, list[float]]
    tasks: dict[str, object]  # name -> task instance with its network loaded
    device: str  # the run's --device, resolved once: tasks use it, and codecs that declare they run there
    rate_match: dict[str, list[dict]] = field(default_factory=dict)  # codec -> matches, with --bpp
    cell_devices: dict[str, str] = field(default_factory=dict)  # codec label -> where its cells code ("cpu": the workers)


def default_qualities(codec, name: str, dataset: Dataset) -> list[float]:
    """The codec's default ladder, or the one the dataset sets for it (`extra["qualities"]`, by codec
    name): a dataset whose task breaks at other rates (small lesions) reaches further than the
    codec's everyday ladder."""
    ladders = (dataset.extra or {}).get("qualities") or {}
    ladder = ladders.get(getattr(codec, "name", name), ladders.get(name.split(":", 1)[0]))
    return list(ladder) if ladder is not None else list(codec.scale.defaults)


def plan(config: RunConfig) -> Plan:
    if not config.codecs:
        raise BenchError("--codecs: no codec selected")
    if config.jobs < 1:
        raise BenchError(f"-j/--jobs must be at least 1, got {config.jobs}")
    if config.executor not in ("local", "dask"):
        raise BenchError(f"--executor '{config.executor}': choose local or dask")
    if config.scheduler and config.executor != "dask":
        raise BenchError("--scheduler applies to --executor dask only")
    if config.cell_timeout is not None and not config.cell_timeout > 0:
        raise BenchError(f"--cell-timeout must be a positive number of seconds, got {config.cell_timeout:g}")
    if config.limit is not None and config.limit < 1:
        raise BenchError(f"--limit must be at least 1, got {config.limit}")
    if uses_pool(config.executor, config.jobs, config.cell_timeout):
        prewarm()  # the pool's fork server loads the codecs on another core while this process plans
    device = resolve_device(config.device)
    labels = [parse_spec(text).label for text in config.codecs]
    cell_devices = {}
    for label in labels:
        if labels.count(label) > 1:
            raise BenchError(f"--codecs: '{label}' is listed twice")
        codec = build_codec(label, device)  # names and options checked before the data is read
        cell_devices[label] = device if codes_in_main(codec, device) else "cpu"
    dataset = open_dataset(config.data)
    # the instances the cells use too, so learned codecs load their weights once per process
    codecs = {label: codec_instance(label, cell_devices[label], (dataset.name, dataset.fingerprint)) for label in labels}
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
        wanted = config.qualities if config.qualities is not None else default_qualities(codec, name, dataset)
        qualities[name] = [codec.scale.check(name, q) for q in wanted]
    tasks = {}
    for text in config.tasks:  # NAME or NAME:weights=FILE
        spec = parse_spec(text, "--task")
        task_cls = registry.get("task", spec.name)
        weights = resolve(spec.name, task_cls.options, spec.options, kind="task").get("weights") or None
        if spec.name in tasks:
            raise BenchError(f"--task: '{spec.name}' is listed twice")
        why_not = task_cls.supports(dataset, weights=weights)
        if why_not:
            raise BenchError(f"task '{spec.name}' cannot run on '{config.data}': {why_not}")
        tasks[spec.name] = task_cls(dataset, device=device, weights=weights, trust_pickle=config.trust_pickle)
    return Plan(config, dataset, samples, codecs, qualities, tasks, device, rate_match, cell_devices)


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
    executor: dict = field(default_factory=dict)  # where the cells ran: kind, workers, threads (for the manifest)


@dataclass
class _Group:
    """One codec × quality group while its cells are out."""

    codec: str
    quality: float
    base: list[dict]  # what the row says before measuring (codec, image, size...)
    measured: list  # per image: the measured fields, None while its cell is out
    decoded: list  # per image: the decoded image, a callable that decodes a cached stream, or None
    keys: list[str]  # per image: the cell's cache key
    todo: list[int]  # images whose cell must be computed
    hits: int = 0
    left: int = 0  # cells still out
    rows: list[dict] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)  # task -> columns it wrote for this group
    summary: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.codec if math.isnan(self.quality) else f"{self.codec} {self.quality:g}"


def execute(p: Plan, show_progress: bool = True, executor: Executor | None = None) -> RunOutput:
    """Every cell of every group through one executor queue; each group's tasks scored here as
    soon as its last cell is in; rows in sweep order, whatever order the cells finished in.
    `executor`: one to use (and leave open); default: the one `p.config` asks for.
    Three plain steps: schedule the cells, collect them as they finish (scoring each group when
    its last cell is in), gather rows and task summaries in sweep order."""
    start = time.perf_counter()
    cache = Cache(p.config.cache_dir, enabled=p.config.use_cache)
    hashes = [image_hash(s.image, s.bit_depth) for s in p.samples]
    groups = [_prepare(p, cache, REFERENCE, math.nan, hashes)]
    groups += [_prepare(p, cache, c, q, hashes) for c, qs in p.qualities.items() for q in qs]
    cells, owners, images = _schedule(p, groups, hashes)
    own = executor is None
    if own:
        c = p.config
        executor = make_executor(c.executor, c.jobs, c.scheduler, c.cell_timeout)
    progress = progress_bars(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), disable=not show_progress, transient=False, unit="cells")
    scorer = _GroupScorer(p, cache, executor, progress)
    try:
        with progress:
            scorer.bar = progress.add_task("sweep", total=len(groups) * len(p.samples),
                                           completed=len(groups) * len(p.samples) - len(cells))
            _collect(groups, cells, owners, images, executor, cache, scorer)
        info = executor.describe()
        if scorer.threads_used:
            info["main_threads_beside_workers"] = sorted(scorer.threads_used)
    finally:
        if own:
            executor.close()
    rows, task_summaries, task_columns = _gather(groups)
    return RunOutput(rows, task_summaries, len(cells), sum(g.hits for g in groups), time.perf_counter() - start, task_columns, info)


def _schedule(p: Plan, groups: list[_Group], hashes: list[str]) -> tuple[list[Cell], list[tuple[int, int]], dict]:
    """The cells left to code (each group's `todo`), who owns each (group, image), and their pixels by hash."""
    cells, owners = [], []
    for g, group in enumerate(groups):
        device = p.cell_devices.get(group.codec, "cpu")
        for i in group.todo:
            sample = p.samples[i]
            cells.append(Cell(group.codec, group.quality, hashes[i], sample.bit_depth, device,
                              (p.dataset.name, p.dataset.fingerprint), keep_decoded=bool(p.tasks),
                              source=(p.config.data, p.config.split, i)))
            owners.append((g, i))
        group.left = len(group.todo)
    return cells, owners, {hashes[i]: p.samples[i].image for _, i in owners}


class _GroupScorer:
    """Scores a finished group with every task, on the cores the busy workers leave."""

    def __init__(self, p: Plan, cache: Cache, executor: Executor, progress) -> None:
        self.p, self.cache, self.executor, self.progress, self.bar = p, cache, executor, progress, None
        self.threads_used: set[int] = set()  # torch threads the tasks scored with beside busy workers

    def __call__(self, group: _Group) -> None:
        group.rows = [b | m for b, m in zip(group.base, group.measured)]
        for name, task in self.p.tasks.items():
            self.progress.update(self.bar, description=f"{group.label} · {name}")
            before = {k for r in group.rows for k in r}
            with cores_left_to_main(self.executor.busy_workers()) as threads:
                summary = _run_task(self.cache, task, name, group.decoded, group.rows, group.keys, self.p.samples)
            if threads is not None:
                self.threads_used.add(threads)
            group.summary.update(summary)
            group.columns[name] = [*summary, *(k for r in group.rows for k in r if k not in before)]
        group.decoded = []  # scored: let the pixels go


def _collect(groups: list[_Group], cells: list[Cell], owners: list[tuple[int, int]], images: dict, executor: Executor,
             cache: Cache, score) -> None:
    """Run the cells; file each result under its group (caching the good ones); score a group when its last cell is in."""
    for group in groups:
        if not group.left:
            score(group)
    if not cells:
        return
    with closing(executor.run(cells, images)) as finished:
        for k, (row, stream, image) in finished:
            g, i = owners[k]
            group = groups[g]
            group.measured[i], group.decoded[i] = row, image
            if row["status"] == "ok":
                cache.put_cell(group.keys[i], row, stream)
            score.progress.update(score.bar, advance=1, description=group.label)
            group.left -= 1
            if not group.left:
                score(group)


def _gather(groups: list[_Group]) -> tuple[list[dict], dict, dict[str, list[str]]]:
    """Rows in sweep order, task summaries per (codec, quality), and each task's columns in first-seen order."""
    rows = [row for group in groups for row in group.rows]
    task_summaries: dict = {}
    task_columns: dict[str, dict] = {}
    for group in groups:
        if group.summary:
            task_summaries.setdefault(group_key(group.codec, group.quality), {}).update(group.summary)
        for name, columns in group.columns.items():
            task_columns.setdefault(name, {}).update(dict.fromkeys(columns))
    return rows, task_summaries, {name: list(columns) for name, columns in task_columns.items()}


def _prepare(p: Plan, cache: Cache, codec_name: str, quality: float, hashes: list[str]) -> _Group:
    """A group's rows so far: the reference's, cache hits and unsupported cells filled in; the rest to do."""
    samples = p.samples
    options = "{}" if codec_name == REFERENCE else json.dumps(p.codecs[codec_name].settings, sort_keys=True)
    base = [{"codec": codec_name, "codec_options": options, "quality": quality, "image_id": s.id, "split": s.split, "modality": s.modality,
             "bit_depth": s.bit_depth, "height": s.image.shape[0], "width": s.image.shape[1], "channels": s.channels}
            for s in samples]
    if codec_name == REFERENCE:
        return _Group(codec_name, quality, base, _reference_rows(samples), [s.image for s in samples], hashes, [])
    codec = p.codecs[codec_name]
    device = p.cell_devices[codec_name]
    keys = [key_of(codec.fingerprint(), quality, quality_version(), h) for h in hashes]
    data = (p.dataset.name, p.dataset.fingerprint)
    group = _Group(codec_name, quality, base, [None] * len(samples), [None] * len(samples), keys, [])
    for i, (s, key) in enumerate(zip(samples, keys)):
        try:
            codec.check(s.image, quality, s.bit_depth)
        except UnsupportedInput as exc:
            group.measured[i] = blank_row("unsupported", str(exc))
            continue
        hit = cache.get_cell(key)
        if hit is not None:
            group.measured[i], group.hits = hit[0], group.hits + 1
            group.decoded[i] = partial(decode_cached, codec_name, hit[1], device, data)  # decoded only if a task needs it
        else:
            group.todo.append(i)
    return group


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
