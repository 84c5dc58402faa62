"""`bench train-codec NAME --benchmark`: the recipe the codec's trainer declares (a picklable factory,
so the two-process measurement can rebuild it in a fresh process), timed, as a table or JSON lines."""

from __future__ import annotations

import json
import os


def benchmark_command(codec_cls, request, as_json: bool, progress, skip_compile: bool = False) -> str:
    """The benchmark of the recipe `codec_cls` trains with; a table, or JSON lines."""
    from bench.train.benchmark import run_benchmark, table
    from bench.train.precision import pick_precision

    from bench.train.request import codec_trainer

    factory, name, jobs = codec_trainer(codec_cls).benchmark_recipe(codec_cls, request)
    device = request.device
    probe = factory({})
    precision, _ = pick_precision(str(probe.opts["precision"]), device)
    cl = probe.opts["channels_last"]
    default = {"precision": precision, "channels_last": precision == "bf16" if cl == "auto" else bool(cl),
               "compile": bool(probe.opts["compile"]), "threads": int(probe.opts["threads"] or os.cpu_count() or 1), "processes": 1}
    if jobs > 1:  # the anchors train rate points in `jobs` one-thread processes
        default.update(threads=1, processes=jobs)
    records = run_benchmark(factory, int(probe.opts["batch_size"]), device=device, default=default, progress=progress,
                            configs_filter=(lambda c: not c["compile"]) if skip_compile else None)
    if as_json:
        return "\n".join(json.dumps({"codec": name, **r}) for r in records)
    return table(records, name)
