"""The `bench` command line: parses options and calls functions the tests call too."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.cli_analysis import register as register_analysis
from bench.cli_common import default_dataset_name, print_json
from bench.cli_train import register as register_training
from bench.api import default_codecs, default_tasks, split_list
from bench.errors import BenchError

def _flags_take_no_value() -> None:
    """typer 0.29 prints a value type after every flag (`--help <bool>`, `--json <bool>`), as if the
    flag took a value; a flag's help line shows its name alone (options with values keep `<int>`...)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_bench_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    display_type_rich._bench_flags = True
    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()
app = typer.Typer(help="mvmic-bench: how many bits can a medical image lose before the task model notices?",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
datasets_app = typer.Typer(help="List registered datasets, or inspect one with `bench datasets show NAME`.",
                           invoke_without_command=True)
app.add_typer(datasets_app, name="datasets")
out = Console()
if not out.is_terminal:  # piped or captured: keep whole numbers instead of squeezing to 80 columns
    out = Console(width=200)
err = Console(stderr=True)


@app.command("codecs")
def codecs_cmd(
    pattern: str = typer.Argument("*", help="Only codecs whose name matches this shell-style pattern, e.g. 'mbt*' or '*jpeg*'."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List codec plugins: family, backend, bit depths, channels, quality scale, availability."""
    from bench import registry
    from bench.listing import codec_rows

    wanted = set(registry.list("codec", pattern))
    if not wanted:
        raise BenchError(f"no codec matches '{pattern}' (codecs: {', '.join(registry.list('codec'))})")
    rows = [r for r in codec_rows() if r["name"] in wanted]
    if as_json:
        return print_json(rows)
    table = Table(title="codecs")
    for col in ("name", "family", "backend", "bit depths", "ch", "quality (defaults)", "options (NAME:key=value)", "available"):
        table.add_column(col, overflow="fold")
    for r in rows:
        quality = f"{r['quality']}: {r['quality_meaning']}\n{', '.join(f'{q:g}' for q in r['default_qualities'])}" if r["quality"] else "-"
        if r["lossless"] is not None:
            quality += f" (lossless {r['lossless']:g})"
        table.add_row(r["name"], r["family"] or "-", r["backend"] or "-", ",".join(map(str, r["bit_depths"])),
                      ",".join(map(str, r["channels"])), quality, _options_text(r["options"]),
                      "[green]yes[/]" if r["available"] else f"[red]no[/]: {r['reason']}")
    out.print(table)


def _options_text(options: list[dict]) -> str:
    lines = []
    for o in options:
        allowed = "|".join(map(str, o["choices"])) if o["choices"] else o["type"]
        lines.append(f"{o['name']}={o['default']} ({allowed}): {o['meaning']}")
    return "\n".join(lines) or "-"


@datasets_app.callback()
def datasets_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table.")) -> None:
    """List registered datasets with size, modality, bit depth, tasks, splits and availability."""
    if ctx.invoked_subcommand is not None:
        return
    from bench.listing import dataset_rows

    rows = dataset_rows()
    if as_json:
        return print_json(rows)
    table = Table(title="datasets")
    for col in ("name", "images", "modality", "bit depths", "tasks", "splits", "available"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], str(r.get("images", "-")), r.get("modality", "-"), ",".join(map(str, r.get("bit_depths", []))),
                      ",".join(r.get("tasks", [])), " ".join(f"{k}={v}" for k, v in r.get("splits", {}).items()),
                      "[green]yes[/]" if r["available"] else f"[red]no[/]: {r['reason']}")
    out.print(table)


@datasets_app.command("show")
def datasets_show_cmd(
    spec: str = typer.Argument(..., help="Dataset as NAME or NAME:PATH."),
    sheet: Optional[Path] = typer.Option(None, "--sheet", help="Contact sheet PNG path. Default: results/datasets/<name>-sheet.png."),
    count: int = typer.Option(12, "--count", help="Samples on the contact sheet."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON ({\"splits\": {\"test\": {\"images\": n, \"boxes\": n, ...}}, ...}); no sheet."),
) -> None:
    """Counts per split and class, and a contact sheet PNG with mask and box overlays."""
    from bench.datasets.show import describe, print_description, write_contact_sheet
    from bench.datasets.spec import open_dataset

    dataset = open_dataset(spec)
    description = describe(dataset)
    if as_json:
        per_split = description.pop("per_split")
        print_json({**description, "splits": per_split})
        return
    print_description(description, out)
    target = sheet or Path("results") / "datasets" / f"{dataset.name}-sheet.png"
    write_contact_sheet(dataset, target, count=count)
    err.print(f"contact sheet -> {target}")


@app.command("run")
def run_cmd(
    codecs: Optional[str] = typer.Option(None, "--codecs", "-c", help="Comma-separated codecs, each NAME or NAME:key=value[:key=value] with the options `bench codecs` lists (e.g. vvc:preset=medium). Default: every available built-in codec."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Dataset as NAME or NAME:PATH (see `bench datasets`). Default: colin27-aal when installed, else phantom."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="none, seg, det or seg,det; NAME:weights=FILE uses your own network (det: Ultralytics .pt with --trust-pickle; seg: the U-Net's .safetensors). Default: every task the dataset and the installed task networks support."),
    split: str = typer.Option("test", "--split", help="Dataset split to evaluate: train, val, test or all."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Use only the first N images of the split."),
    quality: Optional[str] = typer.Option(None, "--quality", "-q", help="Comma-separated quality points in each codec's own scale, for every codec. Default: each codec's defaults."),
    bpp: Optional[str] = typer.Option(None, "--bpp", help="Rate matching: comma-separated target bpp (e.g. 0.05,0.1,0.2,0.4); each codec runs at its quality whose mean bpp over the images is closest."),
    bpp_tolerance: float = typer.Option(0.05, "--bpp-tolerance", help="With --bpp: relative distance to a target that ends the search."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder. Default: results/runs/<run-id>."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Cell workers, one thread each. Default: every core. 1 (without --cell-timeout) codes in this process."),
    executor: str = typer.Option("local", "--executor", help="local (this machine) or dask (a dask.distributed cluster; see --scheduler)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="With --executor dask: the scheduler, tcp://HOST:PORT. Default: start a LocalCluster of -j workers."),
    cell_timeout: Optional[float] = typer.Option(None, "--cell-timeout", help="Seconds one cell (encode + decode + metrics) may take; a late cell fails and its worker is replaced. Default: no limit."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu or cuda[:N]; used by task networks and learned codecs."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Recompute every cell instead of reusing finished ones."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cell cache folder. Default: $BENCH_CACHE_DIR or ~/.cache/mvmic-bench."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Let --task det:weights=FILE.pt load Ultralytics' pickled weights, which can run code from the file."),
    allow_download: bool = typer.Option(False, "--allow-download", help="Let NAME:weights=zoo fetch CompressAI's pretrained files it does not find in torch.hub's folder (the only download bench ever makes)."),
) -> None:
    """Sweep codecs × qualities × images; write results.parquet/csv, summary.csv/parquet and manifest.json."""
    from bench import api
    from bench.device import available_cores
    from bench.runner import RunConfig

    if allow_download:  # an environment variable, so that -j workers inherit the permission
        from bench.codecs.learned.zoo import DOWNLOAD_ENV

        os.environ[DOWNLOAD_ENV] = "1"
    codec_names = split_list(codecs, "--codecs")
    try:
        qualities = [float(q) for q in split_list(quality, "--quality")] if quality else None
    except ValueError:
        raise BenchError(f"--quality '{quality}': expected comma-separated numbers")
    try:
        bpp_targets = [float(b) for b in split_list(bpp, "--bpp")] if bpp else None
    except ValueError:
        raise BenchError(f"--bpp '{bpp}': expected comma-separated numbers")
    if bpp_targets is not None and any(not b > 0 for b in bpp_targets):
        raise BenchError(f"--bpp '{bpp}': targets must be positive")
    if not 0 < bpp_tolerance < 1:
        raise BenchError(f"--bpp-tolerance must lie in (0, 1), got {bpp_tolerance}")
    data = data or default_dataset_name(err)
    notes: list[str] = []
    task_names = split_list(task, "--task")
    if codec_names is None or task_names is None:  # defaults depend on the data: read it once for both
        from bench.datasets.spec import open_dataset

        dataset = open_dataset(data)
        if codec_names is None:
            codec_names, notes = default_codecs(dataset)
        if task_names is None:
            task_names, task_notes = default_tasks(dataset)
            notes += task_notes
    elif task_names == ["none"]:
        task_names = []
    config = RunConfig(codecs=codec_names, data=data, tasks=task_names, split=split, limit=limit, qualities=qualities,
                       jobs=jobs if jobs is not None else available_cores(), device=device, cache_dir=str(cache_dir) if cache_dir else None, use_cache=not no_cache,
                       bpp_targets=bpp_targets, bpp_tolerance=bpp_tolerance, executor=executor, scheduler=scheduler,
                       cell_timeout=cell_timeout, trust_pickle=trust_pickle)

    def print_notes(_plan) -> None:
        for note in notes:
            err.print(note, highlight=False, soft_wrap=True)

    done = api.run(config, out_dir, show_progress=not quiet, before_execute=print_notes)
    print_summary(done.summary, done.headline_columns)
    for status in ("unsupported", "failed"):  # say why, once per codec and reason
        cells = done.results[done.results.status == status]
        for (codec, reason), group in cells.groupby(["codec", "error"], sort=False):
            which = ""
            if status == "failed":  # name them: each is a cell to look at
                names = [f"{_format('quality', q)}/{image}" for q, image in zip(group.quality, group.image_id)]
                which = f" [{', '.join(names[:8])}{', ...' if len(names) > 8 else ''}]"
            err.print(f"note: {codec}: {len(group)} cell(s) {status}: {reason}{which}", highlight=False, soft_wrap=True)
    if "target_missed" in done.results:
        from bench.results import TARGET_TOLERANCE_DB

        missed = done.results[done.results.target_missed.fillna(False).astype(bool)]
        for (codec, quality), group in missed.groupby(["codec", "quality"], sort=False):
            err.print(f"note: {codec} {_format('quality', quality)}: {len(group)} image(s) missed the {quality:g} dB target by more "
                      f"than {TARGET_TOLERANCE_DB:g} dB (got {group.psnr.min():.1f}-{group.psnr.max():.1f} dB): the encoder cannot reach it "
                      f"here; see n_target_missed", highlight=False, soft_wrap=True)
    err.print(f"{done.cells_computed} cells computed, {done.cells_cached} from cache, {done.wall_s:.1f} s -> {done.path}")


@app.command("reproduce")
def reproduce_cmd(
    data: str = typer.Option(..., "--data", "-d", help="Dataset NAME or NAME:PATH (one kind of image: learned codecs train per channel count and bit depth)."),
    budget: str = typer.Option("small", "--budget", help="tiny (a smoke run, minutes), small (curves with their shape, about an hour of 2 cores on colin27-aal) or full (the training campaign's recipe; see --dry-run for hours)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for weights/, results/, figures/, report/ and the BD-rate and task-lossless JSON. Default: results/reproduce/<data>."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel jobs for training rate points and for the sweep. Default: every core."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (every command, its state and time estimate) and do nothing."),
) -> None:
    """The paper's pipeline on your data in one resumable command: task networks, anchors, MVMICNet
    stages 1 and 2 with controls, the sweep, BD-rates, task-lossless table, paper table, figures, report.
    Steps already done are skipped; a cut one continues."""
    from bench.device import available_cores
    from bench.reproduce import reproduce

    if jobs is not None and jobs < 1:
        raise BenchError(f"--jobs must be at least 1, got {jobs}")
    reproduce(data, budget, out, jobs or available_cores(), dry_run, say=lambda line: err.print(line, highlight=False, soft_wrap=True))


@app.command("check")
def check_cmd(
    reference: Path = typer.Argument(Path("results/reference/check"), help="Folder with check.yaml and one committed results folder per configuration."),
    update: bool = typer.Option(False, "--update", help="Rewrite the reference from this code on purpose; prints what changed in the manifests."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Regression check: rerun the committed configurations; exit 1 if bytes, statuses or metrics moved beyond tolerance."""
    from bench.check import check

    changes, diffs, walls = check(reference, update=update, show_progress=not quiet)
    timing = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in walls.items())
    for line in diffs:
        err.print(f"manifest {line}", highlight=False, soft_wrap=True)
    if update:
        err.print(f"reference rewritten in {reference} ({timing})")
        return
    regressions = [c for c in changes if c.regression]
    if changes:
        table = Table(title=f"{len(regressions)} regression(s), {len(changes) - len(regressions)} change(s) within tolerance")
        for col in ("run", "codec", "quality", "image", "column", "reference", "now", "tolerance", "verdict"):
            table.add_column(col)
        for c in sorted(changes, key=lambda c: (not c.regression, c.run, c.codec))[:60]:
            table.add_row(c.run, c.codec, _format("quality", c.quality), c.image_id, c.column, _format(c.column, c.reference),
                          _format(c.column, c.now), "equal" if c.tolerance is None else f"{c.tolerance:g}",
                          "[red]REGRESSION[/]" if c.regression else "ok")
        out.print(table)
    err.print(f"check: {len(regressions)} regression(s) against {reference} ({timing})")
    if regressions:
        raise SystemExit(1)


def print_summary(summary, task_columns: list[str]) -> None:
    """The bpp–quality–accuracy table; every other column stays in summary.csv."""
    table = Table(title="summary (means over images)")
    base = ["codec", "quality", "bpp", "psnr", "ms_ssim"]
    counts = ["n_images", "n_failed"] + [c for c in ("n_unsupported", "n_exact", "n_target_missed")
                                         if c in summary.columns and summary[c].fillna(0).any()]
    columns = base + [c for c in task_columns if c in summary.columns] + counts
    for col in columns:
        table.add_column(col, justify="left" if col == "codec" else "right")
    for _, row in summary.iterrows():
        cells = []
        for col in columns:
            cells.append(_format(col, row[col]))
        table.add_row(*cells)
    out.print(table)


_DECIMALS = {"bpp": 4, "psnr": 2, "ms_ssim": 4, "hd95": 2, "n_target_missed": 0}


def _format(column: str, value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if column == "quality":
            return f"{value:g}"
        return f"{value:.{_DECIMALS.get(column, 3)}f}"
    return str(value)


register_analysis(app, out)
register_training(app, err)


_python_showwarning = None  # set by main(): where warnings other than DataWarning go


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Data warnings (inferred bit depth, a split lacking a class) as one `warning:` line; others as Python prints them."""
    from bench.errors import DataWarning

    if issubclass(category, DataWarning):
        err.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def main() -> None:
    import warnings

    global _python_showwarning
    if warnings.showwarning is not _show_warning:
        _python_showwarning, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        from typer._click.exceptions import ClickException, UsageError  # typer ≥ 0.2x vendors click
    except ImportError:
        from click.exceptions import ClickException, UsageError

    try:
        code = app(standalone_mode=False, prog_name="bench")  # usage errors come back here, printed on one line
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `bench` or `bench datasets show`: the help
            sys.stderr.write(exc.format_message())
            raise SystemExit(2)
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        err.print(f"[red]error:[/] {exc.format_message()}{hint}", highlight=False, soft_wrap=True)
        raise SystemExit(2)
    except ClickException as exc:
        err.print(f"[red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
        raise SystemExit(exc.exit_code)
    except typer.Abort:
        err.print("interrupted: nothing written")
        raise SystemExit(130)
    except BenchError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2)
    except KeyboardInterrupt:
        err.print("interrupted: nothing written")
        raise SystemExit(130)
    if code == 130:  # typer turns Ctrl-C into Exit(130) itself, before the handlers above see it
        err.print("interrupted: nothing written (finished cells stay in the cache)")
    if isinstance(code, int) and code:  # typer.Exit(code) / ctx.exit(code)
        raise SystemExit(code)


if __name__ == "__main__":
    main()
