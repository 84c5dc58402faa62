"""Training of the segmentation U-Net: train split only, epoch selected on val Dice, test once.

Recipe (aimed at small classes such as Colin27's subcortical grey, which a plain run never learned):
- loss = class-weighted cross-entropy + soft Dice over the foreground classes (`seg_loss`);
  CE weights (median frequency / class frequency)^0.5, clipped to [0.2, 5], mean 1;
- slices drawn with replacement, weighted towards those holding pixels of rare classes;
- augmentation on the batch (torch, on the training device): left/right flip (lobe classes are not
  lateralised, so a mirrored slice is still correctly labelled), small affine (±10°, ±8 % scale,
  ±4 % shift; the mask follows with nearest-neighbour sampling), gamma / contrast / brightness
  jitter and a little Gaussian noise; no up/down flip (anterior/posterior order is anatomy);
- bf16 autocast of the forward pass on CPUs with native bf16 (evaluation stays float32);
- optional deep supervision (`deep_supervision=W`): 1×1 heads on the three coarser decoder levels,
  trained with the same loss at weight W (their mean) and dropped afterwards, so the stored
  network and inference are unchanged;
- AdamW with a linear warm-up and cosine decay over the fixed number of steps, full-size slices
  (the network pads to a multiple of 16 itself), deterministic seeding.
Per-epoch train loss, val Dice/IoU and seconds go to a CSV beside the checkpoint.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.checkpoints import as_stored, save_checkpoint
from bench.datasets.base import Dataset, Sample
from bench.errors import BenchError
from bench.tasks.base import TrainConfig
from bench.tasks.seg.predict import normalise, predict_masks

DEFAULTS = {
    "epochs": 200,
    "batch_size": 8,
    "steps_per_epoch": None,  # None: one pass worth of samples (ceil(train / batch))
    "base": 16,
    "coords": True,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 30,
    "dice_weight": 1.0,
    "rare_boost": 3.0,
    "elastic_px": 3.0,  # elastic warp amplitude in pixels (0: affine only); 3 chosen on val (see weights/TRAINING.md)
    "threads": None,  # None: os.cpu_count()
    "time_budget_s": 3000,  # wall-clock cap (s) on the CPU; None: none. See `train`.
    "hd95_at_end": True,
    "deep_supervision": 0.0,  # weight of the auxiliary decoder heads' loss (0: off); see `DeepSupervision`
    "bf16": "auto",  # CPU bf16 autocast for the training forward pass when the CPU has native bf16 (~1.6x faster)
}


def _use_bf16(setting, device: str) -> bool:
    import torch

    if device != "cpu" or setting in (False, "off", "false", None):
        return False
    if setting in (True, "on", "true"):
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def seg_loss(logits, target, class_weights=None, dice_weight: float = 1.0):
    """(Weighted) cross-entropy + soft Dice over foreground classes, on logits N×K×H×W, target N×H×W."""
    import torch
    from torch.nn import functional as F

    k = logits.shape[1]
    ce = F.cross_entropy(logits, target, weight=class_weights)
    if dice_weight == 0:
        return ce
    probs = logits.softmax(1)
    onehot = F.one_hot(target, k).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    inter = (probs * onehot).sum(dims)
    denom = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return ce + dice_weight * (1 - dice[1:].mean()) if k > 1 else ce + torch.zeros((), device=logits.device)


class DeepSupervision:
    """Auxiliary 1×1 heads on the U-Net's coarser decoder levels (1/8, 1/4, 1/2), read through
    forward hooks so the network itself is untouched; their logits are upsampled to the padded
    full size, cropped, and scored with `seg_loss`. Training only: the heads are not stored."""

    def __init__(self, model, weight: float) -> None:
        from torch import nn

        self.weight, self.features = weight, []
        levels = list(model.dec[:-1])
        self.heads = nn.ModuleList(nn.Conv2d(block[-3].out_channels, model.num_classes, 1) for block in levels)
        for block in levels:
            block.register_forward_hook(self._keep)

    def _keep(self, module, _inputs, output) -> None:
        if module.training:  # validation passes leave nothing behind
            self.features.append(output)

    def loss(self, target, class_weights, dice_weight: float):
        from torch.nn import functional as F

        from bench.tasks.seg.model import MULTIPLE

        h, w = target.shape[-2:]
        size = (h + (-h) % MULTIPLE, w + (-w) % MULTIPLE)
        terms = [seg_loss(F.interpolate(head(feature.float()), size=size, mode="bilinear", align_corners=False)[..., :h, :w],
                          target, class_weights, dice_weight)
                 for head, feature in zip(self.heads, self.features)]
        self.features.clear()
        return self.weight * sum(terms) / len(terms)


def class_statistics(masks: list[np.ndarray], num_classes: int, rare_boost: float) -> tuple[np.ndarray, np.ndarray]:
    """CE class weights and per-slice sampling weights from the training masks."""
    counts = np.stack([np.bincount(m.ravel().astype(np.int64), minlength=num_classes)[:num_classes] for m in masks])
    freq = counts.sum(0) / counts.sum()
    present = freq > 0
    median = np.median(freq[present]) if present.any() else 1.0
    weights = np.ones(num_classes)
    weights[present] = np.clip(np.sqrt(median / freq[present]), 0.2, 5.0)
    weights /= weights[present].mean() if present.any() else 1.0
    rarity = np.zeros(num_classes)
    rarity[present] = np.clip(np.sqrt(median / freq[present]) - 1.0, 0.0, 3.0)
    rarity[0] = 0.0
    slice_w = 1.0 + rare_boost * (np.minimum(counts / 200.0, 1.0) * rarity).sum(1) / max(rarity.sum(), 1e-9) * 3
    return weights.astype(np.float32), slice_w / slice_w.sum()


def augment(x, y, gen, elastic_px: float = 0.0):
    """Random flips, affine (plus, with `elastic_px`, a smooth elastic warp of about that many
    pixels) and intensity jitter of a batch; x N×C×H×W float, y N×H×W long.

    Why elastic: neighbouring slices of one brain differ by smooth changes of shape, which a
    global affine cannot mimic; a displacement field drawn on a 6×6 grid and upsampled bicubically
    is the classic U-Net augmentation for that."""
    import torch
    from torch.nn import functional as F

    n, device = x.shape[0], x.device

    def uniform(lo, hi, *shape):
        return (torch.rand(*(shape or (n,)), generator=gen) * (hi - lo) + lo).to(device)

    flip = (torch.rand(n, generator=gen) < 0.5).to(device)
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    y = torch.where(flip.view(n, 1, 1), y.flip(-1), y)
    angle = uniform(-10, 10) * math.pi / 180
    scale = uniform(0.92, 1.08)
    tx, ty = uniform(-0.04, 0.04), uniform(-0.04, 0.04)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic_px > 0:
        h, w = x.shape[-2:]
        coarse = torch.randn(n, 2, 6, 6, generator=gen).to(device)
        field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
        grid = grid + field * torch.tensor([2.0 * elastic_px / w, 2.0 * elastic_px / h], device=device)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0].long()
    gamma = torch.exp(uniform(-0.3, 0.3)).view(n, 1, 1, 1)
    contrast = uniform(0.85, 1.15).view(n, 1, 1, 1)
    bright = uniform(-0.06, 0.06).view(n, 1, 1, 1)
    noise = uniform(0, 0.02).view(n, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma * contrast + bright
    x = x + noise * torch.randn(x.shape, generator=gen).to(device)
    return x.clamp(0, 1), y


def _batches(samples: list[Sample], size: int):
    """Consecutive chunks of samples with equal image shape (predictions need stacked tensors)."""
    chunk: list[Sample] = []
    for s in samples:
        if chunk and (len(chunk) == size or s.image.shape != chunk[0].image.shape):
            yield chunk
            chunk = []
        chunk.append(s)
    if chunk:
        yield chunk


def _score(model, samples, class_names, channels, device, hd95=False, inference=None):
    from bench.tasks.seg.metrics import SegMetric

    metric = SegMetric(class_names, hd95=hd95)
    masks = predict_masks(model, [s.image for s in samples], [s.bit_depth for s in samples], channels, device,
                          **(inference or {}))
    metric.update(masks, samples)
    return metric.compute()


INFERENCE_GRID = [{"flip_tta": flip, "min_class_pixels": px} for flip in (False, True) for px in (0, 10, 25, 50, 100)]


def choose_inference(model, val_set, test_set, class_names, channels, device) -> tuple[dict, list[dict]]:
    """The inference setting (flip TTA, small-class removal) with the best val Dice; the simplest
    wins ties. Test figures are logged beside each setting, never used to choose."""
    table = []
    for setting in INFERENCE_GRID:
        row = dict(setting, val_dice=round(_score(model, val_set, class_names, channels, device, inference=setting).summary["dice"], 5))
        if test_set:
            row["test_dice"] = round(_score(model, test_set, class_names, channels, device, inference=setting).summary["dice"], 5)
        table.append(row)
    best = max(table, key=lambda r: (r["val_dice"], -r["flip_tta"], -r["min_class_pixels"]))
    return {k: best[k] for k in ("flip_tta", "min_class_pixels")}, table


def _split_metrics(scores) -> dict[str, float]:
    keep = {k: round(float(v), 5) for k, v in scores.summary.items() if isinstance(v, (int, float))}
    return keep


def train(dataset: Dataset, config: TrainConfig, task_name: str = "seg") -> dict[str, Any]:
    import torch

    from bench.manifest import package_versions
    from bench.tasks.seg.model import UNet

    unknown = sorted(set(config.options or {}) - set(DEFAULTS))
    if unknown:
        raise BenchError(f"seg: unknown training option {unknown[0]!r}; known: {', '.join(DEFAULTS)}")
    opts = {**DEFAULTS, **(config.options or {})}
    epochs = int(config.epochs or opts["epochs"])
    batch_size = int(config.batch_size or opts["batch_size"])
    threads = int(opts["threads"] or os.cpu_count() or 1)
    torch.set_num_threads(threads)
    device = config.device or "cpu"
    if not dataset.seg_classes:
        raise BenchError(f"seg: dataset '{dataset.name}' has no segmentation classes")
    train_set = [s for s in dataset.samples if s.split == "train" and s.mask is not None]
    val_set = [s for s in dataset.samples if s.split == "val" and s.mask is not None]
    test_set = [s for s in dataset.samples if s.split == "test" and s.mask is not None]
    if not train_set or not val_set:
        raise BenchError(f"seg: dataset '{dataset.name}' needs masks in its train and val splits "
                         f"(has {dataset.split_counts()})")
    channels = max(s.channels for s in train_set)
    class_names = list(dataset.seg_classes)
    k = len(class_names)

    torch.manual_seed(config.seed)
    np_rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    if device.startswith("cuda"):
        torch.cuda.manual_seed_all(config.seed)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    bf16 = _use_bf16(opts["bf16"], device)
    model = UNet(channels, k, base=int(opts["base"]), coords=bool(opts["coords"])).to(device)
    deep = DeepSupervision(model, float(opts["deep_supervision"])) if float(opts["deep_supervision"]) > 0 else None
    if deep is not None:
        deep.heads.to(device)
    class_w, slice_p = class_statistics([s.mask for s in train_set], k, float(opts["rare_boost"]))
    class_w_t = torch.from_numpy(class_w).to(device)
    # training tensors, grouped by shape so batches stack
    shapes = sorted({s.image.shape[:2] for s in train_set})
    by_shape = {sh: [i for i, s in enumerate(train_set) if s.image.shape[:2] == sh] for sh in shapes}
    images = normalise([s.image for s in train_set], [s.bit_depth for s in train_set], channels) if len(shapes) == 1 else None
    masks = torch.from_numpy(np.stack([s.mask.astype(np.int64) for s in train_set])) if len(shapes) == 1 else None

    steps_per_epoch = int(opts["steps_per_epoch"] or math.ceil(len(train_set) / batch_size))
    total_steps = epochs * steps_per_epoch
    warmup = min(int(opts["warmup_steps"]), max(total_steps // 5, 1))
    trained = list(model.parameters()) + (list(deep.heads.parameters()) if deep is not None else [])
    optim = torch.optim.AdamW(trained, lr=float(opts["lr"]), weight_decay=float(opts["weight_decay"]))
    budget = float(opts["time_budget_s"]) if opts["time_budget_s"] else None
    started = time.perf_counter()

    def lr_factor(step: int) -> float:
        """Warm-up, then cosine decay over steps, or over the time budget if that runs out first.

        The time term only matters when the budget binds (a slow shared CPU); then the run is no
        longer bit-reproducible, and the manifest says so (`stopped_early`)."""
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total_steps - warmup, 1)
        if budget:
            progress = max(progress, (time.perf_counter() - started) / budget)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * 0.98 + 0.02

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_factor)

    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix(".csv")
    log_fields = ["epoch", "step", "lr", "train_loss", "val_dice", "val_iou", "val_miou", "best", "epoch_s", "elapsed_s"]
    log_rows: list[dict] = []
    best = (-1.0, 0, None)
    stopped_early = None
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        losses = []
        for _ in range(steps_per_epoch):
            if images is not None:
                idx = np_rng.choice(len(train_set), size=batch_size, replace=True, p=slice_p)
                x, y = images[idx], masks[idx]
            else:  # mixed shapes: draw a shape, then samples of that shape
                shape = shapes[np_rng.integers(len(shapes))]
                pool = by_shape[shape]
                p = slice_p[pool] / slice_p[pool].sum()
                idx = np_rng.choice(pool, size=batch_size, replace=True, p=p)
                chosen = [train_set[i] for i in idx]
                x = normalise([s.image for s in chosen], [s.bit_depth for s in chosen], channels)
                y = torch.from_numpy(np.stack([s.mask.astype(np.int64) for s in chosen]))
            x, y = augment(x.to(device), y.to(device), gen, float(opts["elastic_px"]))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(x)
            loss = seg_loss(logits.float(), y, class_w_t, float(opts["dice_weight"]))
            if deep is not None:
                loss = loss + deep.loss(y, class_w_t, float(opts["dice_weight"]))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
        val = _score(model, val_set, class_names, channels, device).summary
        is_best = val["dice"] > best[0]
        if is_best:
            best = (val["dice"], epoch, {k_: v.detach().cpu().clone() for k_, v in model.state_dict().items()})
        elapsed = time.perf_counter() - started
        row = {"epoch": epoch, "step": step, "lr": f"{sched.get_last_lr()[0]:.6f}", "train_loss": f"{np.mean(losses):.5f}",
               "val_dice": f"{val['dice']:.5f}", "val_iou": f"{val['iou']:.5f}", "val_miou": f"{val['miou']:.5f}",
               "best": int(is_best), "epoch_s": f"{time.perf_counter() - t0:.2f}", "elapsed_s": f"{elapsed:.1f}"}
        log_rows.append(row)
        _write_log(log_path, log_fields, log_rows)
        print(f"seg epoch {epoch}/{epochs} loss {row['train_loss']} val dice {row['val_dice']}"
              f"{' *' if is_best else ''} ({row['epoch_s']} s)", file=sys.stderr, flush=True)
        if budget and elapsed > budget and epoch < epochs:
            stopped_early = f"time budget {budget} s reached after epoch {epoch}"
            break
    train_seconds = time.perf_counter() - started

    model.load_state_dict(as_stored(best[2]))  # score the weights exactly as stored (float16)
    hd95 = bool(opts["hd95_at_end"])
    inference, inference_table = choose_inference(model, val_set, test_set, class_names, channels, device)
    val_scores = _score(model, val_set, class_names, channels, device, hd95=hd95, inference=inference)
    metrics = {"selected_epoch": best[1], "val": _split_metrics(val_scores), "inference_choice": inference_table}
    if test_set:  # computed once, on the selected checkpoint, never used for selection
        metrics["test"] = _split_metrics(_score(model, test_set, class_names, channels, device, hd95=hd95,
                                                inference=inference))
    manifest = {
        "task": task_name,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "seg_classes": class_names,
        "model": {"arch": "UNet", **model.config()},
        "inference": inference,
        "config": {"epochs": epochs, "batch_size": batch_size, "steps_per_epoch": steps_per_epoch,
                   "total_steps": total_steps, **{k_: v for k_, v in opts.items() if k_ not in ("epochs", "batch_size", "steps_per_epoch")},
                   "threads": threads, "bf16_autocast": bf16, "class_weights": [round(float(w), 4) for w in class_w]},
        "seed": config.seed,
        "metrics": metrics,
        "stopped_early": stopped_early,
        "packages": package_versions(),
        "train_seconds": round(train_seconds, 1),
        "device": device,
        "command": sys.argv,
        "log": log_path.name,
    }
    state = dict(best[2])
    state["_class_weights"] = torch.from_numpy(class_w)
    save_checkpoint(out, state, manifest)
    _write_config(out.with_suffix(".config.yaml"), manifest)
    return manifest


def _write_config(path: Path, manifest: dict) -> None:
    """The training configuration and command, beside the checkpoint, in YAML."""
    import yaml

    doc = {"command": " ".join(manifest["command"]), "task": manifest["task"], "dataset": manifest["dataset"],
           "dataset_fingerprint": manifest["dataset_fingerprint"], "seed": manifest["seed"], "device": manifest["device"],
           "model": manifest["model"], "train": manifest["config"]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _write_log(path: Path, fields: list[str], rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
