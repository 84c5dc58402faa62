"""Simulated focal lesions inserted into real anatomy ("hybrid images"), the way compression and
detectability studies build them: a lesion of known size, shape, contrast and place is added to
a real slice before coding, so every codec sees the same original and the truth is exact.

The lesion model, and why (1 mm pixels, Colin27 T1):
- **Size**: diameter log-uniform in 2-12 mm. That spans the findings whose loss matters and which
  compression threatens first: microbleeds and small metastases (2-5 mm), lacunes and MS plaques
  (3-15 mm), small metastases (5-10 mm). Below 2 mm a lesion is under two pixels across; above
  12 mm it is no longer small (the lobes task already covers large structures).
- **Shape**: an ellipse (axis ratio 0.7-1, any orientation) whose boundary radius is perturbed by
  low harmonics (orders 2-4, up to 12% each): smooth, slightly irregular, never spiculated.
- **Edge**: the ideal profile blurred by a Gaussian of sigma `EDGE_SIGMA_PX` (a 1 mm voxel's
  partial-volume point spread), so small lesions are blobs and large ones plateaus.
- **Polarity**: hyper-intense (enhancing lesions, T1-bright haemorrhage) or hypo-intense (T1
  "black holes", lacunes) with equal odds.
- **Contrast**: the lesion's plateau differs from the local tissue mean by a fraction log-uniform
  in 3-30%: from clearly visible down to a few grey levels, near the slice's noise (`noise_sigma`
  measures it; each lesion records its contrast-to-noise ratio).
- **Placement**: wholly inside brain tissue (the brain mask eroded by the lesion's radius + 1 px)
  and apart from the other lesions of the image (edges at least `GAP_PX` apart).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

GENERATOR_VERSION = 1  # part of every lesion dataset's identity: change it when the model above changes
DIAMETER_MM = (2.0, 12.0)
CONTRAST = (0.03, 0.30)  # |plateau - local mean| / local mean
EDGE_SIGMA_PX = 0.6
GAP_PX = 3
HARMONICS = (2, 3, 4)
HARMONIC_MAX = 0.12


@dataclass
class Lesion:
    cx: float
    cy: float
    diameter_mm: float
    contrast: float  # signed fraction of the local tissue mean (+ hyper, - hypo)
    axis_ratio: float
    angle: float
    harmonics: tuple[tuple[float, float], ...]  # (amplitude, phase) per order in HARMONICS
    amplitude: float = 0.0  # grey levels actually added at the plateau (set on insertion)
    cnr: float = 0.0  # |amplitude| / the slice's noise sigma

    @property
    def polarity(self) -> str:
        return "hyper" if self.contrast > 0 else "hypo"

    def record(self) -> dict:
        return {k: (list(map(list, v)) if k == "harmonics" else round(v, 4) if isinstance(v, float) else v)
                for k, v in asdict(self).items()} | {"polarity": self.polarity}


def draw_lesion(rng: np.random.Generator, cx: float, cy: float) -> Lesion:
    lo, hi = DIAMETER_MM
    c_lo, c_hi = CONTRAST
    return Lesion(cx, cy, float(math.exp(rng.uniform(math.log(lo), math.log(hi)))),
                  float(math.exp(rng.uniform(math.log(c_lo), math.log(c_hi))) * rng.choice([-1.0, 1.0])),
                  float(rng.uniform(0.7, 1.0)), float(rng.uniform(0, math.pi)),
                  tuple((float(rng.uniform(0, HARMONIC_MAX)), float(rng.uniform(0, 2 * math.pi))) for _ in HARMONICS))


def profile(lesion: Lesion, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The lesion's 0..1 intensity profile on a patch of the image, and where the patch lies."""
    from scipy.special import erf

    radius = lesion.diameter_mm / 2
    reach = int(math.ceil(radius * (1 + HARMONIC_MAX * len(HARMONICS)) + 3 * EDGE_SIGMA_PX + 1))
    y0, y1 = max(int(lesion.cy) - reach, 0), min(int(lesion.cy) + reach + 1, shape[0])
    x0, x1 = max(int(lesion.cx) - reach, 0), min(int(lesion.cx) + reach + 1, shape[1])
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xx - lesion.cx, yy - lesion.cy
    cos, sin = math.cos(lesion.angle), math.sin(lesion.angle)
    u, v = dx * cos + dy * sin, (-dx * sin + dy * cos) / lesion.axis_ratio  # the ellipse's frame
    theta = np.arctan2(v, u)
    boundary = radius * (1 + sum(a * np.cos(k * theta + p) for k, (a, p) in zip(HARMONICS, lesion.harmonics)))
    distance = np.hypot(u, v) - boundary  # < 0 inside (in the ellipse's frame, close enough to pixels for blur)
    return 0.5 * (1 - erf(distance / (math.sqrt(2) * EDGE_SIGMA_PX))), (slice(y0, y1), slice(x0, x1))


def noise_sigma(image: np.ndarray, tissue: np.ndarray) -> float:
    """The slice's noise: robust spread (MAD) of the Laplacian residual inside tissue, scaled to a
    pixel's sigma (a discrete Laplacian of white noise has sigma sqrt(20) times the pixel's)."""
    from scipy import ndimage

    residual = ndimage.laplace(image.astype(np.float64))[tissue]
    if residual.size == 0:
        return 1.0
    return float(1.4826 * np.median(np.abs(residual - np.median(residual))) / math.sqrt(20))


def tissue_distance(tissue: np.ndarray) -> np.ndarray:
    """Pixels to the nearest non-tissue pixel (computed once per slice, used by `place`)."""
    from scipy import ndimage

    return ndimage.distance_transform_edt(tissue)


def place(rng: np.random.Generator, tissue: np.ndarray, count: int, tries: int = 200,
          distance: np.ndarray | None = None) -> list[Lesion]:
    """Up to `count` lesions inside `tissue`, apart from one another (fewer when the slice has no room)."""
    lesions: list[Lesion] = []
    distance = tissue_distance(tissue) if distance is None else distance
    ys, xs = np.nonzero(distance > 2)
    if ys.size == 0:
        return lesions
    for _ in range(count):
        for _ in range(tries):
            k = rng.integers(ys.size)
            candidate = draw_lesion(rng, float(xs[k] + rng.uniform(-0.5, 0.5)), float(ys[k] + rng.uniform(-0.5, 0.5)))
            outer = candidate.diameter_mm / 2 * (1 + HARMONIC_MAX * len(HARMONICS))
            if distance[int(round(candidate.cy)), int(round(candidate.cx))] < outer + 1:
                continue
            if any(math.hypot(candidate.cx - o.cx, candidate.cy - o.cy) < outer + o.diameter_mm / 2 * (1 + HARMONIC_MAX * len(HARMONICS)) + GAP_PX
                   for o in lesions):
                continue
            lesions.append(candidate)
            break
    return lesions


def insert(image: np.ndarray, tissue: np.ndarray, lesions: list[Lesion], bit_depth: int = 8, sigma: float | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hybrid image, lesion mask, boxes xyxy): each lesion's plateau set `contrast` away from the mean
    of the tissue around it (measured on the original), mask where the profile reaches one half.
    `sigma`: the slice's noise (`noise_sigma`), when already measured."""
    out = image.astype(np.float64)
    mask = np.zeros(image.shape, np.uint8)
    sigma = noise_sigma(image, tissue) if sigma is None else sigma
    boxes = []
    for lesion in lesions:
        weight, (rows, cols) = profile(lesion, image.shape)
        around = image[rows, cols][(weight < 0.5) & tissue[rows, cols]]
        local = float(np.mean(around)) if around.size else float(np.mean(image[tissue]))
        lesion.amplitude = lesion.contrast * local
        lesion.cnr = abs(lesion.amplitude) / max(sigma, 1e-6)
        out[rows, cols] += lesion.amplitude * weight
        inside = weight >= 0.5
        mask[rows, cols][inside] = 1
        ys, xs = np.nonzero(inside)
        boxes.append([xs.min() + cols.start, ys.min() + rows.start, xs.max() + 1 + cols.start, ys.max() + 1 + rows.start])
    peak = (1 << bit_depth) - 1
    hybrid = np.clip(np.rint(out), 0, peak).astype(image.dtype)
    return hybrid, mask, np.asarray(boxes, np.float32).reshape(-1, 4)
