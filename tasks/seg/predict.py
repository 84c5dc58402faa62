"""Segmentation inference: bit-depth normalisation, the network, test-time flips, and the
removal of classes predicted on only a handful of pixels.

Why the last two: a class predicted on an image that does not hold it scores Dice 0 there, so
a few stray pixels of `temporal` on a vertex slice cost as much as missing a whole lobe.
Averaging the softmax of the image and its left–right mirror (the lobe classes are not
lateralised) steadies the boundaries, and a class whose whole prediction on an image is below
`min_class_pixels` pixels is handed to the next most likely class. Both settings are chosen on
the validation split and stored in the checkpoint's manifest (`inference`), so every user of
the checkpoint predicts the same way.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from bench.errors import BenchError
from bench.tasks.batches import BATCH, run_batches, spans

DEFAULT_INFERENCE = {"flip_tta": False, "min_class_pixels": 0}


@dataclass
class BinaryPrediction:
    """A one-foreground network's output: the class map, and the foreground probability that ranks
    its lesion candidates (`SegMetric` reads them lesion by lesion). Reads as the class map wherever
    an array is expected (`np.asarray`)."""

    mask: np.ndarray
    probability: np.ndarray  # H×W float16

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.mask, dtype=dtype)

    @property
    def shape(self):
        return self.mask.shape


def normalise(images, bit_depths, channels: int):
    """List of H×W / H×W×C integer arrays -> float32 tensor N×C×H×W in [0, 1] (by bit depth)."""
    import torch

    arrays = []
    for image, depth in zip(images, bit_depths):
        a = np.asarray(image, np.float32) / float(2 ** int(depth) - 1)
        a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
        if a.shape[0] != channels:
            if a.shape[0] == 1:
                a = np.repeat(a, channels, 0)
            elif channels == 1:
                a = a.mean(0, keepdims=True)
            else:
                raise BenchError(f"seg: the network takes {channels} channels, the image has {a.shape[0]}")
        arrays.append(a)
    return torch.from_numpy(np.stack(arrays))


def class_probabilities(model, x, flip_tta: bool = False):
    """Softmax N×K×H×W; with `flip_tta` the mean of the image's and its mirror's."""
    probs = model(x).softmax(1)
    if flip_tta:
        probs = 0.5 * (probs + model(x.flip(-1)).softmax(1).flip(-1))
    return probs


def drop_small_classes(probs, min_class_pixels: int):
    """Arg-max class maps in which no class covers fewer than `min_class_pixels` pixels of an image
    (background is never dropped); dropped classes go to the next most likely class."""
    labels = probs.argmax(1)
    if min_class_pixels <= 0:
        return labels
    k = probs.shape[1]
    for i in range(labels.shape[0]):
        counts = labels[i].flatten().bincount(minlength=k)
        small = [c for c in range(1, k) if 0 < int(counts[c]) < min_class_pixels]
        if small:
            p = probs[i].clone()
            p[small] = -1.0
            labels[i] = p.argmax(0)
    return labels


def predict_masks(model, images, bit_depths, channels: int, device: str, batch_size: int = BATCH,
                  flip_tta: bool = False, min_class_pixels: int = 0, probability: bool = False) -> list:
    """H×W class maps for images of any mix of shapes (batched by consecutive equal shapes; on
    the CPU batch by batch on one thread each, so the maps do not depend on the thread count).
    `probability` (a one-foreground network): `BinaryPrediction`s, the map with its foreground
    probability."""
    import torch

    model.eval()
    dtype = np.uint8 if model.num_classes <= 256 else np.int64

    def infer(batch: range) -> list[np.ndarray]:
        with torch.no_grad():  # grad mode is per thread
            x = normalise([images[i] for i in batch], [bit_depths[i] for i in batch], channels).to(device)
            x = x.contiguous(memory_format=torch.channels_last)  # the layout of a `SegmentationTask` model's weights
            probs = class_probabilities(model, x, flip_tta)
            labels = list(drop_small_classes(probs, min_class_pixels).cpu().numpy().astype(dtype))
            if probability and probs.shape[1] == 2:
                return [BinaryPrediction(m, p) for m, p in zip(labels, probs[:, 1].float().cpu().numpy().astype(np.float16))]
            return labels

    return run_batches(infer, spans([np.shape(image) for image in images], batch_size), device)
