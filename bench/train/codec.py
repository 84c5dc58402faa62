"""`bench train-codec NAME --data DATASET`: rate–distortion training of a learned codec.

Loss per rate point: λ·(2^b − 1)²·MSE + R, with MSE on images scaled to [0, 1] (so the first
term is the MSE in the data's own integer units, as CompressAI's recipe does for 8-bit) and R
the likelihood estimate in bits per pixel. The entropy models' quantiles get CompressAI's
auxiliary loss and optimiser.

Affordable by design, a λ ladder: the first (highest) λ trains from scratch for `steps`
steps; each next λ starts from the previous point's selected weights and fine-tunes for
`finetune_steps`. Data: random crops of train-split slices only (left–right and up–down flips;
images are normalised by their bit depth); the weights kept for each point are those with the
lowest R–D loss on the full val slices, checked every `val_every` steps. The test split is never
read. At the end of each point the real entropy coder runs on the val slices, so the manifest
reports bpp from bytes beside the likelihood estimate.

Resumable: every `checkpoint_every_s` seconds (and at each point's end) the complete state,
models, optimisers, schedules, step and every RNG, goes to `<out>.resume.pt`;
`--resume` continues from it and gives the same result as an uncut run.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError

DEFAULTS: dict[str, Any] = {
    "N": 64,
    "M": 96,
    "lambdas": [0.032, 0.0115, 0.0041, 0.0015, 0.00055],  # highest rate first: each point fine-tunes the previous one;
    # on colin27-aal these span about 0.05-0.5 bpp once trained (see codecs/weights/TRAINING.md)
    "steps": 8000,  # first point, from scratch
    "finetune_steps": 3000,  # each later point
    "batch_size": 8,
    "crop": 128,
    "lr": 3e-4,
    "lr_final": 3e-5,  # cosine decay within each point
    "aux_lr": 1e-3,
    "clip_grad": 1.0,
    "warmup_steps": 100,  # linear lr warm-up at the start of every rate point
    "val_every": 250,
    "checkpoint_every_s": 300,
    "threads": None,
}
MAX_BAD_STEPS = 50
LOG_FIELDS = ["step", "point", "lambda", "lr", "loss", "mse", "bpp_est", "aux", "val_loss", "val_psnr", "val_bpp_est",
              "best", "elapsed_s"]


def options_for(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise BenchError(f"train-codec: unknown option {unknown[0]!r}; known: {', '.join(DEFAULTS)}")
    opts = {**DEFAULTS, **overrides}
    opts["lambdas"] = [float(v) for v in (opts["lambdas"] if isinstance(opts["lambdas"], list) else [opts["lambdas"]])]
    if not opts["lambdas"]:
        raise BenchError("train-codec: lambdas must hold at least one value")
    return opts


def _normalised(samples) -> list[np.ndarray]:
    """C×H×W float32 in [0, 1] per sample, by its bit depth."""
    out = []
    for s in samples:
        planes = s.image[None] if s.image.ndim == 2 else np.moveaxis(s.image, -1, 0)
        out.append(planes.astype(np.float32) / float((1 << s.bit_depth) - 1))
    return out


def _crop_batch(images: list[np.ndarray], size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Random crops (zero-padded when an image is smaller) with random flips."""
    out = np.zeros((batch, images[0].shape[0], size, size), np.float32)
    for b in range(batch):
        image = images[rng.integers(len(images))]
        _, h, w = image.shape
        top, left = rng.integers(max(h - size, 0) + 1), rng.integers(max(w - size, 0) + 1)
        patch = image[:, top:top + size, left:left + size]
        if rng.random() < 0.5:
            patch = patch[:, :, ::-1]
        if rng.random() < 0.5:
            patch = patch[:, ::-1, :]
        out[b, :, : patch.shape[1], : patch.shape[2]] = patch
    return out


def rd_terms(model, x, shape=None):
    """(mse, bpp estimate) of a batch; with `shape`, the distortion is measured on the unpadded part."""
    import torch

    from bench.codecs.learned.coding import likelihood_bits

    out = model(x)
    x_hat = out["x_hat"]
    if shape is not None:
        x, x_hat = x[..., : shape[0], : shape[1]], x_hat[..., : shape[0], : shape[1]]
    pixels = x.shape[0] * x.shape[-2] * x.shape[-1]
    bits = likelihood_bits(out["likelihoods"])
    return torch.mean((x_hat - x) ** 2), bits / pixels


def validate(model, val_samples, lam: float, peak: float) -> dict[str, float]:
    """R–D loss, PSNR and estimated bpp on whole val slices, padded as the codec pads them."""
    import torch

    from bench.codecs.learned.coding import to_tensor

    model.eval()
    mses, bpps = [], []
    with torch.no_grad():
        for s in val_samples:
            x = to_tensor(s.image, s.bit_depth).to(next(model.parameters()).device)
            mse, bpp = rd_terms(model, x, s.image.shape[:2])
            mses.append(float(mse))
            bpps.append(float(bpp))
    model.train()
    mse, bpp = float(np.mean(mses)), float(np.mean(bpps))
    return {"val_loss": lam * peak**2 * mse + bpp, "val_psnr": float(np.mean([10 * math.log10(1 / max(m, 1e-12)) for m in mses])),
            "val_bpp_est": bpp}


def real_rate(model, val_samples, point: int) -> dict[str, float]:
    """Entropy-coded bytes of the val slices: bpp from bytes, PSNR of the decoded pixels."""
    from bench.codecs.learned.coding import decode_image, encode_image, estimated_bits
    from bench.quality import psnr

    model = model.to("cpu").eval()
    model.update(force=True)
    bpp, est, quality = [], [], []
    for s in val_samples:
        data = encode_image(model, s.image, s.bit_depth, point)
        decoded, _ = decode_image(model, data)
        pixels = s.image.shape[0] * s.image.shape[1]
        bpp.append(8 * len(data) / pixels)
        est.append(estimated_bits(model, s.image, s.bit_depth) / pixels)
        quality.append(psnr(s.image, decoded, s.bit_depth))
    return {"val_bpp": float(np.mean(bpp)), "val_bpp_estimate": float(np.mean(est)), "val_psnr_decoded": float(np.mean(quality))}


def train_codec(arch: str, dataset, out: Path, overrides: dict[str, Any] | None = None, seed: int = 0,
                device: str = "cpu", resume: bool = False, show_progress: bool = True, label: dict | None = None) -> dict[str, Any]:
    """Train every rate point of `arch` on `dataset`'s train split; write `out` (all points) + manifest
    (`label`: extra manifest fields, e.g. MVMICNet's stage 1 saying what it is)."""
    import os

    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from bench.checkpoints import as_stored, save_checkpoint
    from bench.codecs.learned.models import ARCHITECTURES, build_model
    from bench.manifest import package_versions
    from bench.train.loop import (PeriodicSave, codec_optimisers, codec_step, cosine_lr, end_step, keep_if_better,
                                  resume_training, save_training)
    from bench.train.steplog import StepLog

    if arch not in ARCHITECTURES:
        raise BenchError(f"train-codec: unknown architecture '{arch}' (known: {', '.join(ARCHITECTURES)})")
    opts = options_for(overrides or {})
    torch.set_num_threads(int(opts["threads"] or os.cpu_count() or 1))
    train_set, val_set = dataset.split("train"), dataset.split("val")
    channels = {s.channels for s in train_set + val_set}
    depths = {s.bit_depth for s in train_set + val_set}
    if len(channels) != 1 or len(depths) != 1:
        raise BenchError(f"train-codec: '{dataset.name}' mixes channel counts {sorted(channels)} or bit depths {sorted(depths)}; "
                         "train one codec per kind of image")
    channels, bit_depth = channels.pop(), depths.pop()
    peak = float((1 << bit_depth) - 1)
    train_images = _normalised(train_set)
    out = Path(out)
    resume_path = out.with_name(f"{out.stem}.resume.pt")
    lambdas = opts["lambdas"]
    steps_of = [int(opts["steps"])] + [int(opts["finetune_steps"])] * (len(lambdas) - 1)
    total = sum(steps_of)

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(arch, int(opts["N"]), int(opts["M"]), channels).to(device)
    state: dict[str, Any] = {"point": 0, "step_in_point": 0, "step": 0, "points": [], "best": None, "elapsed_s": 0.0}

    main_params, optim, aux_optim = codec_optimisers(model, float(opts["lr"]), float(opts["aux_lr"]))
    config = {"arch": arch, "opts": opts, "seed": seed, "fingerprint": dataset.fingerprint}
    if resume:
        state = resume_training(resume_path, config, model, optim, aux_optim, rng)
    log = StepLog(out.with_suffix(".csv"), LOG_FIELDS, resume_from_step=state["step"] if resume else None)

    def checkpoint():
        save_training(resume_path, config, model, optim, aux_optim, state, rng)

    started = time.perf_counter() - state["elapsed_s"]
    saver = PeriodicSave(float(opts["checkpoint_every_s"]), checkpoint)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), disable=not show_progress)
    with progress:
        bar = progress.add_task(f"{arch} λ={lambdas[state['point']]:g}", total=total, completed=state["step"], info="")
        while state["point"] < len(lambdas):
            point, lam, steps = state["point"], lambdas[state["point"]], steps_of[state["point"]]
            while state["step_in_point"] < steps:
                k = state["step_in_point"]
                lr = cosine_lr(optim, k, steps, opts["lr"], opts["lr_final"], opts["warmup_steps"])
                x = torch.from_numpy(_crop_batch(train_images, int(opts["crop"]), int(opts["batch_size"]), rng)).to(device)
                mse, bpp = rd_terms(model, x)
                loss = lam * peak**2 * mse + bpp
                if not torch.isfinite(loss):  # skip the step; a run that keeps diverging stops with a clear error
                    state["bad_steps"] = state.get("bad_steps", 0) + 1
                    if state["bad_steps"] > MAX_BAD_STEPS:
                        raise BenchError(f"train-codec: the loss stayed non-finite for {MAX_BAD_STEPS} steps at λ={lam:g} "
                                         f"(step {state['step']}); lower lr with --set lr=...")
                    optim.zero_grad(set_to_none=True)
                    continue
                state["bad_steps"] = 0
                aux = codec_step(model, loss, main_params, optim, aux_optim, opts["clip_grad"])
                state["step_in_point"] += 1
                state["step"] += 1
                row = {"step": state["step"], "point": point, "lambda": lam, "lr": f"{lr:.3g}", "loss": f"{float(loss.detach()):.5f}",
                       "mse": f"{float(mse.detach()):.6g}", "bpp_est": f"{float(bpp.detach()):.5f}", "aux": f"{float(aux.detach()):.4g}"}
                if state["step_in_point"] % int(opts["val_every"]) == 0 or state["step_in_point"] == steps:
                    val = validate(model, val_set, lam, peak)
                    keep_if_better(state, val, model, row)
                    progress.update(bar, info=f"val {val['val_psnr']:.2f} dB @ {val['val_bpp_est']:.3f} bpp(est)")
                end_step(state, row, started, log, progress, bar, saver)
            # the point is done: keep its selected weights (as they will be stored), measure real bytes on val
            best = state["best"]
            model.load_state_dict(as_stored(best["weights"]))
            measured = real_rate(model, val_set, point)
            model.to(device).train()
            state["points"].append({"lambda": lam, "steps": steps, "selected_step": best["step"],
                                    "val_loss": best["val_loss"], "val_psnr_estimate": best["val_psnr"],
                                    **measured, "weights": best["weights"]})
            state.update(point=point + 1, step_in_point=0, best=None)  # the next λ fine-tunes from here (new lr schedule, same Adam moments)
            saver.now()
            if state["point"] < len(lambdas):
                progress.update(bar, description=f"{arch} λ={lambdas[state['point']]:g}")

    points = sorted(state["points"], key=lambda p: p["lambda"])  # rate point 0 = lowest rate
    weights = {f"p{i}.{k}": v for i, p in enumerate(points) for k, v in p["weights"].items()}
    manifest = {
        "kind": "codec",
        "arch": arch,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "channels": channels,
        "trained_bit_depth": bit_depth,
        "N": int(opts["N"]),
        "M": int(opts["M"]),
        "rate_points": [{k: v for k, v in p.items() if k != "weights"} for p in points],
        "config": opts,
        "seed": seed,
        "device": device,
        "train_seconds": round(state["elapsed_s"], 1),
        "split_sizes": {"train": len(train_set), "val": len(val_set)},
        "packages": package_versions(),
        "command": sys.argv,
        "log": out.with_suffix(".csv").name,
        **(label or {}),
    }
    save_checkpoint(out, weights, manifest)
    return manifest
