"""How `bench train-codec` trains a CompressAI anchor (the codec class names this module as its
`trainer`): one process, or rate points side by side (`-j`), and the recipe the benchmark times."""

from __future__ import annotations

import functools
from typing import Any


def train(codec_cls, request) -> tuple[dict, Any]:
    """(manifest, checkpoint path) of the λ ladder trained as `request` asks."""
    from bench.train.codec import options_for, train_codec
    from bench.train.parallel import train_codec_parallel

    target = request.out or request.default_out
    opts = options_for(request.settings)
    jobs = min(request.jobs, len(opts["lambdas"]) - (0 if request.init else 1))  # the points that can train side by side
    common = dict(seed=request.seed, device=request.device, resume=request.resume, show_progress=request.show_progress,
                  init=request.init)
    if jobs > 1:
        return train_codec_parallel(codec_cls.architecture, request.dataset, target, request.settings, label=None, jobs=jobs,
                                    **common), target
    return train_codec(codec_cls.architecture, request.dataset, target, request.settings, **common), target


def anchor_recipe(arch: str, dataset, overrides: dict[str, Any], loop: dict[str, Any]):
    """The anchors' recipe with the benchmark's loop options on top (picklable through functools.partial)."""
    from bench.train.codec import RateDistortionRecipe, options_for

    return RateDistortionRecipe(arch, dataset, options_for({**overrides, **loop}), from_init=False)


def benchmark_recipe(codec_cls, request):
    """(factory of the recipe the benchmark times: loop options -> Recipe, its name, processes training side by side)."""
    return functools.partial(anchor_recipe, codec_cls.architecture, request.dataset, dict(request.settings)), codec_cls.name, request.jobs
