"""What the segmentation U-Net's training is made of: its loss, augmentation, class statistics,
deep supervision and the choice of inference setting. The loop that uses them is the project's
one training loop (`bench/train/seg.py` on `bench/train/trainer.py`).

Recipe (aimed at small classes such as Colin27's subcortical grey, which a plain run never learned):
- loss = class-weighted cross-entropy + soft Dice over the foreground classes (`seg_loss`);
  CE weights (median frequency / class frequency)^0.5, clipped to [0.2, 5], mean 1;
- slices drawn with replacement, weighted towards those holding pixels of rare classes;
- augmentation on the batch (torch, on the training device): left/right flip (lobe classes are not
  lateralised, so a mirrored slice is still correctly labelled), small affine (±10°, ±8 % scale,
  ±4 % shift; the mask follows with nearest-neighbour sampling), gamma / contrast / brightness
  jitter and a little Gaussian noise; no up/down flip (anterior/posterior order is anatomy);
- optional deep supervision (`deep_supervision=W`): 1×1 heads on the three coarser decoder levels,
  trained with the same loss at weight W (their mean) and dropped afterwards, so the stored
  network and inference are unchanged;
- full-size slices (the network pads to a multiple of 16 itself).
"""

from __future__ import annotations

import math

import numpy as np

from bench.tasks.seg.predict import predict_masks


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


def class_statistics(masks: list[np.ndarray], num_classes: int, rare_boost: float, weight_power: float = 0.5,
                     weight_cap: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """CE class weights, (median frequency / frequency) ** weight_power clipped to [0.2, weight_cap],
    and per-slice sampling weights from the training masks. The square root (0.5) and cap 5 suit the
    lobes; lesions cover ~0.3% of a slice, where they leave a lesion pixel only 7× a background one."""
    counts = np.stack([np.bincount(m.ravel().astype(np.int64), minlength=num_classes)[:num_classes] for m in masks])
    freq = counts.sum(0) / counts.sum()
    present = freq > 0
    median = np.median(freq[present]) if present.any() else 1.0
    weights = np.ones(num_classes)
    weights[present] = np.clip((median / freq[present]) ** weight_power, 0.2, weight_cap)
    weights /= weights[present].mean() if present.any() else 1.0
    rarity = np.zeros(num_classes)
    rarity[present] = np.clip(np.sqrt(median / freq[present]) - 1.0, 0.0, 3.0)
    rarity[0] = 0.0
    slice_w = 1.0 + rare_boost * (np.minimum(counts / 200.0, 1.0) * rarity).sum(1) / max(rarity.sum(), 1e-9) * 3
    return weights.astype(np.float32), slice_w / slice_w.sum()


def augment(x, y, gen, elastic_px: float = 0.0, noise_max: float = 0.02):
    """Random flips, affine (plus, with `elastic_px`, a smooth elastic warp of about that many
    pixels), intensity jitter and Gaussian noise (sigma up to `noise_max` of full scale) of a
    batch; x N×C×H×W float, y N×H×W long. Lesions of a few grey levels drown in 0.02 (5 of 255)
    of noise, so the lesion recipe sets `noise_max=0`.

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
    noise = uniform(0, noise_max).view(n, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma * contrast + bright
    x = x + noise * torch.randn(x.shape, generator=gen).to(device)
    return x.clamp(0, 1), y


def score(model, samples, class_names, channels, device, hd95=False, inference=None, lesions=None):
    from bench.tasks.seg.metrics import SegMetric

    metric = SegMetric(class_names, hd95=hd95, lesions=lesions)
    masks = predict_masks(model, [s.image for s in samples], [s.bit_depth for s in samples], channels, device,
                          **(inference or {}), probability=len(class_names) == 2)
    metric.update(masks, samples)
    return metric.compute()


INFERENCE_GRID = [{"flip_tta": flip, "min_class_pixels": px} for flip in (False, True) for px in (0, 10, 25, 50, 100)]


def selection_figure(summary: dict) -> str:
    """What selects weights and inference: lesion-wise sensitivity where the network reads as a
    lesion detector (one foreground class), else Dice. Why: pixel Dice is dominated by the large
    lesions, and dropping small predictions raises it while losing exactly the small findings."""
    value = summary.get("seg_sensitivity")
    return "seg_sensitivity" if value is not None and math.isfinite(float(value)) else "dice"


def choose_inference(model, val_set, class_names, channels, device) -> tuple[dict, list[dict]]:
    """The inference setting (flip TTA, small-class removal) with the best val figure
    (`selection_figure`); the simplest wins ties. Test is scored once, on the choice (scoring it
    for every setting cost 9 minutes of one core on colin27-lesions and chose nothing)."""
    table = []
    for setting in INFERENCE_GRID:
        val = score(model, val_set, class_names, channels, device, inference=setting).summary
        figure = selection_figure(val)
        table.append(dict(setting, figure=figure, val=round(float(val[figure]), 5), val_dice=round(float(val["dice"]), 5)))
    best = max(table, key=lambda r: (r["val"], r["val_dice"], -r["flip_tta"], -r["min_class_pixels"]))
    return {k: best[k] for k in ("flip_tta", "min_class_pixels")}, table


def split_metrics(scores) -> dict[str, float]:
    keep = {k: round(float(v), 5) for k, v in scores.summary.items() if isinstance(v, (int, float))}
    return keep
