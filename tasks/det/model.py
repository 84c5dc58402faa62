"""Build, load and run the YOLO detector; the pre/post-processing every scoring path shares.

Images reach the network as 3 channels in [0, 1]: gray is repeated, any bit depth is scaled
to 8-bit first (as the training PNGs were written), then letterboxed to a square of
`imgsz` (aspect kept, long side = imgsz, centred, padded with 114/255, Ultralytics'
convention). The letterbox is done in torch, so `predict` and the differentiable `loss`
see exactly the same input. The square (rather than Ultralytics' minimal "rect" padding)
makes every image the same size, so a batch of any dataset stacks, and it is the geometry
the network was trained on (mosaic training is square).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from bench.datasets.base import Sample
from bench.tasks.batches import run_batches, spans

PAD_VALUE = 114 / 255
CONF = 0.001  # keep low-confidence boxes: mAP integrates over the whole ranking
IOU = 0.7  # NMS IoU, Ultralytics' validation default
MAX_DET = 300


def to_uint8(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """Stored pixels (uint8/uint16 at `bit_depth`) -> H×W×3 uint8."""
    if bit_depth != 8 or image.dtype != np.uint8:
        scale = 255.0 / ((1 << bit_depth) - 1)
        image = np.clip(np.round(image.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def build(yaml_name: str, class_names: list[str]):
    """An untrained Ultralytics DetectionModel from its YAML (no download) with our classes."""
    from bench.tasks.det.offline import ultralytics

    ultralytics()  # configure offline use before the first ultralytics import
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # its "Overriding model.yaml nc=80" info line ignores verbose=False
    try:
        model = DetectionModel(yaml_name, ch=3, nc=len(class_names), verbose=False)
    finally:
        LOGGER.setLevel(level)
    model.names = dict(enumerate(class_names))
    return model


def letterbox(images: torch.Tensor, imgsz: int) -> tuple[torch.Tensor, tuple[float, float], float, float]:
    """N×3×H×W in [0, 1] (one shape) -> N×3×imgsz×imgsz, (gain_x, gain_y), pad_x, pad_y. Differentiable."""
    h, w = images.shape[-2:]
    gain = min(imgsz / h, imgsz / w)
    new_h, new_w = max(round(h * gain), 1), max(round(w * gain), 1)
    if (new_h, new_w) != (h, w):
        images = F.interpolate(images, size=(new_h, new_w), mode="bilinear", align_corners=False)
    top, left = round((imgsz - new_h) / 2 - 0.1), round((imgsz - new_w) / 2 - 0.1)
    bottom, right = imgsz - new_h - top, imgsz - new_w - left
    images = F.pad(images, (left, right, top, bottom), value=PAD_VALUE)
    return images, gain_xy(new_h, new_w, h, w), float(left), float(top)


def gain_xy(new_h: int, new_w: int, h: int, w: int) -> tuple[float, float]:
    return new_w / w, new_h / h


def as_batch(images: list[np.ndarray], samples: list[Sample], device) -> list[torch.Tensor]:
    """Decoded images -> list of 1×3×H×W float tensors in [0, 1] on `device`."""
    out = []
    for image, sample in zip(images, samples):
        rgb = to_uint8(np.asarray(image), sample.bit_depth)
        out.append(torch.from_numpy(rgb).to(device).permute(2, 0, 1)[None].float() / 255.0)
    return out


def detect(model, images: list[torch.Tensor], imgsz: int) -> list[dict[str, np.ndarray]]:
    """Boxes (xyxy, original pixels), scores and labels for each 1×3×H×W image, in fixed batches
    that on the CPU run on one thread each (`bench.tasks.batches`: the boxes do not depend on
    the thread count)."""
    if not images:
        return []
    every_image = [()] * len(images)  # letterboxed to one size: any images may share a batch
    return run_batches(lambda batch: detect_batch(model, [images[i] for i in batch], imgsz), spans(every_image),
                       images[0].device.type)


@torch.no_grad()
def detect_batch(model, images: list[torch.Tensor], imgsz: int) -> list[dict[str, np.ndarray]]:
    """`detect` for one batch: one forward pass, then NMS."""
    from ultralytics.utils.nms import non_max_suppression

    boxed = [letterbox(x, imgsz) for x in images]
    batch = torch.cat([b[0] for b in boxed])
    raw = model(batch)
    raw = raw[0] if isinstance(raw, (tuple, list)) else raw
    # no time limit: Ultralytics stops NMS after 2 s + 0.05 s per image and leaves the images not
    # yet reached with no boxes, so a busy machine would lower mAP (seen: 16 slices, one thread)
    kept = non_max_suppression(raw, conf_thres=CONF, iou_thres=IOU, multi_label=True, max_det=MAX_DET,
                               nc=len(model.names), max_time_img=math.inf)
    results = []
    for det, (_, (gx, gy), px, py), x in zip(kept, boxed, images):
        h, w = x.shape[-2:]
        det = det.float().cpu()
        boxes = det[:, :4].clone()
        boxes[:, [0, 2]] = ((boxes[:, [0, 2]] - px) / gx).clamp(0, w)
        boxes[:, [1, 3]] = ((boxes[:, [1, 3]] - py) / gy).clamp(0, h)
        results.append({"boxes": boxes.numpy().astype(np.float32), "scores": det[:, 4].numpy().astype(np.float32),
                        "labels": det[:, 5].numpy().astype(np.int64)})
    return results
