"""Task inference speed in images per second, on colin27-aal test slices (native 217×181), CPU,
and for the lesion tasks on colin27-lesions test slices (same size; its seg network runs flip TTA).

Two figures per task: `predict` (the network's forward pass and post-processing) and `evaluate`
(what `bench run` calls per group: predict plus the metrics against the labels).
`extra_info`: img_per_s, images.
"""

from __future__ import annotations

import pytest

from bench import registry
from speed_helpers import record_rate, rounds_for, warm_call

TASKS = sorted(registry.available("task"))
IMAGES = 8


@pytest.mark.parametrize("call", ["predict", "evaluate"])
@pytest.mark.parametrize("name", TASKS)
def test_task_speed(benchmark, name, call, colin27):
    _measure(benchmark, name, call, colin27, f"task {call}")


@pytest.mark.parametrize("call", ["predict", "evaluate"])
@pytest.mark.parametrize("name", TASKS)
def test_lesion_task_speed(benchmark, name, call, colin27):
    """The lesion sweep's cost is mostly this: every codec × quality group scores the 288 test slices."""
    from bench.datasets.spec import open_dataset

    _measure(benchmark, name, call, open_dataset("colin27-lesions"), f"lesion task {call}")


def _measure(benchmark, name, call, data, group):
    task_cls = registry.get("task", name)
    why_not = task_cls.supports(data)
    if why_not:
        pytest.skip(why_not)
    task = task_cls(data, device="cpu")
    samples = data.split("test")[:IMAGES]
    images = [s.image for s in samples]
    benchmark.group = group
    fn = getattr(task, call)
    _, seconds = warm_call(lambda: fn(images, samples))
    result = benchmark.pedantic(fn, args=(images, samples), rounds=rounds_for(seconds), iterations=1)
    if call == "predict":
        assert len(result) == len(images)
    else:
        assert len(result.per_image) == len(images) and result.summary
    benchmark.extra_info["images"] = len(images)
    rate = record_rate(benchmark, "img_per_s", len(images), "img/s")
    if rate is not None:
        print(f"\n{name} {call}: {rate:.2f} images/s ({len(images)} {data.name} test slices)")
