"""`bench train-task seg`: the segmentation U-Net's recipe on the one training loop (`trainer.py`).

Train split only, weights selected once per epoch on val Dice (on lesion-wise sensitivity for a
one-foreground network: `selection_figure`), test scored once on the selected weights. What the
recipe is made of lives with the task (`tasks/seg/train.py`: the loss, the augmentation, class
statistics, deep supervision, the inference choice); the loop, its precision (bf16 autocast where
native), time budget, exact `--resume` and log are the Trainer's.

Recipe (aimed at small classes such as Colin27's subcortical grey, which a plain run never learned):
- loss = class-weighted cross-entropy + soft Dice over the foreground classes (`seg_loss`);
- slices drawn with replacement, weighted towards those holding pixels of rare classes; on a dataset
  that can draw new training images (`extra["fresh_train"]`, colin27-lesions: fresh lesions in a
  random train slice), every image of every batch is a new draw instead (`fresh`, on by default);
- augmentation on the batch (flip, small affine, elastic warp, intensity jitter; `augment`);
- AdamW with a linear warm-up and cosine decay to 2% of the peak rate over the fixed number of steps
  (or over the time budget, when that binds first), full-size slices.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.train.trainer import LOOP_DEFAULTS, Recipe, Trainer

DEFAULTS: dict[str, Any] = {
    **LOOP_DEFAULTS,
    "epochs": 200,
    "batch_size": 8,
    "steps_per_epoch": None,  # None: one pass worth of samples (ceil(train / batch))
    "base": 16,
    "coords": True,
    "lr": 3e-3,
    "weight_decay": 1e-4,
    "warmup_steps": 30,
    "clip_grad": None,
    "channels_last": False,  # not measured for the U-Net; bf16 alone was 1.6x
    "dice_weight": 1.0,
    "rare_boost": 3.0,
    "class_weight_power": 0.5,  # CE weights (median freq / freq) ** power, clipped to [0.2, cap]
    "class_weight_cap": 5.0,
    "elastic_px": 3.0,  # elastic warp amplitude in pixels (0: affine only); 3 chosen on val (see weights/TRAINING.md)
    "noise_max": 0.02,  # Gaussian noise augmentation, sigma up to this share of full scale (lesions: 0)
    "time_budget_s": 3000,  # wall-clock cap (s); None: none
    "hd95_at_end": True,
    "deep_supervision": 0.0,  # weight of the auxiliary decoder heads' loss (0: off); see `DeepSupervision`
    "fresh": True,  # new training images on every batch where the dataset can draw them (extra["fresh_train"])
    "patch": 0,  # > 0: train on patch×patch crops (fully convolutional inference on whole slices; use coords=false)
    "patch_on_foreground": 0.67,  # share of crops centred (with jitter) on a foreground pixel, as nnU-Net oversamples
}
LR_FLOOR = 0.02  # of the peak rate, at the end of the cosine


def crop_patch(image: np.ndarray, mask: np.ndarray, size: int, on_foreground: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """A size×size crop, centred (±size/4) on a random foreground pixel with probability
    `on_foreground` (when the mask has one), else anywhere; edge-padded where the slice is smaller.
    Why: a lesion is ~0.3% of a slice, and whole-slice batches taught the network to predict none."""
    h, w = mask.shape
    pad_y, pad_x = max(size - h, 0), max(size - w, 0)
    if pad_y or pad_x:
        widths = ((pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2))
        image = np.pad(image, widths + ((0, 0),) * (image.ndim - 2), mode="edge")
        mask = np.pad(mask, widths, mode="constant")
        h, w = mask.shape
    fg = np.flatnonzero(mask > 0)
    if len(fg) and rng.random() < on_foreground:
        cy, cx = np.unravel_index(fg[rng.integers(len(fg))], mask.shape)
        cy, cx = cy + int(rng.integers(-size // 4, size // 4 + 1)), cx + int(rng.integers(-size // 4, size // 4 + 1))
    else:
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, x0 = int(np.clip(cy - size // 2, 0, h - size)), int(np.clip(cx - size // 2, 0, w - size))
    return image[y0:y0 + size, x0:x0 + size], mask[y0:y0 + size, x0:x0 + size]


def seg_training(unet, deep_weight: float):
    """The U-Net plus, with deep supervision, its training-only heads: one module for the optimiser."""
    from torch import nn

    from bench.tasks.seg.train import DeepSupervision

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = unet
            self.deep = DeepSupervision(unet, deep_weight) if deep_weight > 0 else None
            self.heads = self.deep.heads if self.deep is not None else None

        def forward(self, x):
            return self.net(x)

    return Wrapped()


class SegmentationRecipe(Recipe):
    log_fields = ["train_loss", "val_loss", "val_dice", "val_iou", "val_miou", "val_seg_sensitivity"]

    def __init__(self, dataset, opts: dict[str, Any], task_name: str) -> None:
        from bench.tasks.seg.train import class_statistics

        if not dataset.seg_classes:
            raise BenchError(f"seg: dataset '{dataset.name}' has no segmentation classes")
        self.dataset, self.opts, self.task_name = dataset, opts, task_name
        self.name = task_name
        self.train_set = [s for s in dataset.samples if s.split == "train" and s.mask is not None]
        self.val_set = [s for s in dataset.samples if s.split == "val" and s.mask is not None]
        self.test_set = [s for s in dataset.samples if s.split == "test" and s.mask is not None]
        if not self.train_set or not self.val_set:
            raise BenchError(f"seg: dataset '{dataset.name}' needs masks in its train and val splits (has {dataset.split_counts()})")
        self.channels = max(s.channels for s in self.train_set)
        self.class_names = list(dataset.seg_classes)
        self.class_w, self.slice_p = class_statistics([s.mask for s in self.train_set], len(self.class_names), float(opts["rare_boost"]),
                                                      float(opts["class_weight_power"]), float(opts["class_weight_cap"]))
        self.shapes = sorted({s.image.shape[:2] for s in self.train_set})
        self.steps_per_epoch = int(opts["steps_per_epoch"] or math.ceil(len(self.train_set) / int(opts["batch_size"])))
        self.total_steps = int(opts["epochs"]) * self.steps_per_epoch
        self.opts["val_every"] = self.steps_per_epoch  # selection once per epoch
        self.opts["warmup_steps"] = min(int(opts["warmup_steps"]), max(self.total_steps // 5, 1))
        self.opts["lr_final"] = LR_FLOOR * float(opts["lr"])
        self.gen = None
        self.fresh = None
        spec = (dataset.extra or {}).get("fresh_train")
        if spec and opts.get("fresh", True):
            import importlib

            module, function = spec.split(":")
            self.fresh = getattr(importlib.import_module(module), function)(dataset)
        if int(opts.get("patch") or 0) and self.fresh is None:
            raise BenchError(f"seg: --set patch needs a dataset that draws fresh training images ('{dataset.name}' does not)")

    def config(self) -> dict:
        return {"task": self.task_name, "opts": {k: v for k, v in self.opts.items() if k != "time_budget_s"},
                "fingerprint": self.dataset.fingerprint}

    def build(self, device: str):
        import torch

        from bench.tasks.seg.model import UNet
        from bench.tasks.seg.predict import normalise

        self.device = device
        self.gen = torch.Generator().manual_seed(int(torch.initial_seed()) % 2**63)
        unet = UNet(self.channels, len(self.class_names), base=int(self.opts["base"]), coords=bool(self.opts["coords"]))
        model = seg_training(unet, float(self.opts["deep_supervision"])).to(device)
        self.class_w_t = torch.from_numpy(self.class_w).to(device)
        one_shape = len(self.shapes) == 1
        self.images = normalise([s.image for s in self.train_set], [s.bit_depth for s in self.train_set], self.channels) if one_shape else None
        self.masks = torch.from_numpy(np.stack([s.mask.astype(np.int64) for s in self.train_set])) if one_shape else None
        return model

    def state(self) -> dict:
        return {"gen": self.gen.get_state()}

    def load_state(self, state: dict) -> None:
        self.gen.set_state(state["gen"])

    def points(self) -> list[dict]:
        return [{"label": f"{self.steps_per_epoch} steps/epoch", "steps": self.total_steps}]

    def begin_point(self, i: int, model, done: list[dict]) -> None:
        if self.init is not None:
            model.net.load_state_dict({k: v for k, v in self.init.state.items() if not k.startswith("_")})

    def optimisers(self, model, lr: float):
        import torch

        params = [p for p in model.parameters() if p.requires_grad]
        return params, torch.optim.AdamW(params, lr=lr, weight_decay=float(self.opts["weight_decay"])), None

    def _batch(self, rng):
        import torch

        from bench.tasks.seg.predict import normalise

        batch = int(self.opts["batch_size"])
        if self.fresh is not None:
            chosen = [self.fresh(rng) for _ in range(batch)]
            images, masks = [s.image for s in chosen], [s.mask for s in chosen]
            if int(self.opts["patch"]):
                crops = [crop_patch(im, m, int(self.opts["patch"]), float(self.opts["patch_on_foreground"]), rng) for im, m in zip(images, masks)]
                images, masks = [c[0] for c in crops], [c[1] for c in crops]
            x = normalise(images, [s.bit_depth for s in chosen], self.channels)
            return x, torch.from_numpy(np.stack([m.astype(np.int64) for m in masks]))
        if self.images is not None:
            idx = rng.choice(len(self.train_set), size=batch, replace=True, p=self.slice_p)
            return self.images[idx], self.masks[idx]
        shape = self.shapes[rng.integers(len(self.shapes))]  # mixed shapes: draw a shape, then samples of that shape
        pool = [i for i, s in enumerate(self.train_set) if s.image.shape[:2] == shape]
        p = self.slice_p[pool] / self.slice_p[pool].sum()
        chosen = [self.train_set[i] for i in rng.choice(pool, size=batch, replace=True, p=p)]
        x = normalise([s.image for s in chosen], [s.bit_depth for s in chosen], self.channels)
        return x, torch.from_numpy(np.stack([s.mask.astype(np.int64) for s in chosen]))

    def training_step(self, i: int, model, rng):
        from bench.tasks.seg.train import augment, seg_loss

        x, y = self._batch(rng)
        x, y = augment(x.to(self.device), y.to(self.device), self.gen, float(self.opts["elastic_px"]),
                       float(self.opts["noise_max"]))
        logits = model(x)
        loss = seg_loss(logits.float(), y, self.class_w_t, float(self.opts["dice_weight"]))
        if model.deep is not None:
            loss = loss + model.deep.loss(y, self.class_w_t, float(self.opts["dice_weight"]))
        return loss, {"train_loss": f"{float(loss.detach()):.5f}"}

    def validate(self, i: int, model) -> dict[str, float]:
        from bench.tasks.seg.train import score, selection_figure

        val = score(model.net, self.val_set, self.class_names, self.channels, self.device).summary
        model.train()
        figure = selection_figure(val)
        figures = {"val_loss": -float(val[figure]), "val_dice": float(val["dice"]), "val_iou": float(val["iou"]), "val_miou": float(val["miou"])}
        if figure == "seg_sensitivity":
            figures["val_seg_sensitivity"] = float(val[figure])
        return figures

    def finish_point(self, i: int, model, best: dict, steps: int) -> dict:
        """The inference choice on val, then val and (once) test on the selected weights as stored."""
        from bench.tasks.seg.train import choose_inference, score, split_metrics

        net, hd95 = model.net, bool(self.opts["hd95_at_end"])
        lesions = (self.dataset.extra or {}).get("lesions")
        inference, table = choose_inference(net, self.val_set, self.class_names, self.channels, "cpu")
        metrics = {"selected_epoch": best["step"] // self.steps_per_epoch, "selected_step": best["step"],
                   "val": split_metrics(score(net, self.val_set, self.class_names, self.channels, "cpu", hd95=hd95, inference=inference,
                                              lesions=lesions)),
                   "inference_choice": table}
        if self.test_set:  # computed once, on the selected checkpoint, never used for selection
            metrics["test"] = split_metrics(score(net, self.test_set, self.class_names, self.channels, "cpu", hd95=hd95, inference=inference,
                                                  lesions=lesions))
        return {"steps": steps, "inference": inference, "metrics": metrics, "model_config": net.config()}


def train_seg(task_cls, dataset, config) -> dict[str, Any]:
    """`bench train-task seg|seg-holdout`: train, select, score, and write checkpoint, manifest, log and config."""
    import torch

    from bench.checkpoints import save_checkpoint
    from bench.manifest import package_versions
    from bench.train.codec import options_for

    task_name = task_cls.name
    overrides = {**task_cls.train_defaults, **(config.options or {})}
    if config.epochs:
        overrides["epochs"] = config.epochs
    if config.batch_size:
        overrides["batch_size"] = config.batch_size
    opts = options_for(overrides, DEFAULTS, what=task_name)
    opts["threads"] = int(opts["threads"] or os.cpu_count() or 1)
    recipe = SegmentationRecipe(dataset, opts, task_name)
    out = Path(config.out)
    trainer = Trainer(recipe, out, seed=config.seed, device=config.device or "cpu", resume=getattr(config, "resume", False),
                      init=getattr(config, "init", None), fingerprint=dataset.fingerprint, show_progress=True)
    if config.device and config.device.startswith("cuda"):
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    (record,), facts = trainer.run()
    weights = {k[len("net."):]: v for k, v in record["weights"].items() if k.startswith("net.")}
    manifest = {
        "task": task_name,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "seg_classes": recipe.class_names,
        "model": {"arch": "UNet", **record["model_config"]},
        "inference": record["inference"],
        "config": {**opts, "steps_per_epoch": recipe.steps_per_epoch, "total_steps": recipe.total_steps,
                   "class_weights": [round(float(w), 4) for w in recipe.class_w]},
        "seed": config.seed,
        "metrics": record["metrics"],
        "stopped_early": f"time budget {opts['time_budget_s']} s reached at step {record['steps']}" if facts["stopped_by_budget"] else None,
        "packages": package_versions(),
        **facts,
        "device": config.device,
        "command": sys.argv,
        "log": out.with_suffix(".csv").name,
    }
    weights["_class_weights"] = torch.from_numpy(recipe.class_w)
    save_checkpoint(out, weights, manifest)
    write_config(out.with_suffix(".config.yaml"), manifest)
    return manifest


def write_config(path: Path, manifest: dict) -> None:
    """The training configuration and command, beside the checkpoint, in YAML."""
    import yaml

    doc = {"command": " ".join(manifest["command"]), "task": manifest["task"], "dataset": manifest["dataset"],
           "dataset_fingerprint": manifest["dataset_fingerprint"], "seed": manifest["seed"], "device": manifest["device"],
           "model": manifest["model"], "train": manifest["config"]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
