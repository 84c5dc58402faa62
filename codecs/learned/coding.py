"""Image <-> bytes through a CompressAI model's real entropy coder.

`encode_image` normalises by the bit depth's peak (so 8-, 12- and 16-bit images all reach the
network in [0, 1]), pads by edge replication to a multiple of 64 (the models' total stride),
calls CompressAI's `compress` and packs the strings with the header of `bitstream.py`.
`decode_image` rebuilds the image from those bytes alone: `decompress`, crop, and back to
integers of the original bit depth. The model must have had `update()` called (the CDF tables
the range coder uses); both sides then use tables computed by the same code from the same
weights. Coding runs on the CPU: CompressAI's GPU forward passes are not bit-exact between
runs, and an encoder/decoder mismatch corrupts the stream.

Coding also runs on one torch thread, whatever the process's count: a float sum splits
differently across threads, and on 2 threads against 1 the same stream decoded to pixels one
grey level apart in 20–30 of 120 streams (colin27-aal test slices, bmshj2018, mbt2018,
MVMICNet). So `-j 1` (2 threads in this process), `-j 2` (one per worker) and a stream cached by
a worker and decoded again here for a task all give the same pixels.
"""

from __future__ import annotations

import numpy as np

from bench.codecs.learned import bitstream
from bench.device import one_thread

STRIDE = 64


def to_tensor(image: np.ndarray, bit_depth: int, channels: int | None = None):
    """H×W or H×W×C integers -> 1×C×H'×W' float in [0, 1], edge-padded to a multiple of STRIDE.
    A gray image given to a `channels`=3 model (CompressAI's RGB zoo weights) is replicated into
    three planes; `to_image` averages them back."""
    import torch

    peak = float((1 << bit_depth) - 1)
    planes = image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0)
    h, w = planes.shape[1:]
    padded = np.pad(planes, ((0, 0), (0, (-h) % STRIDE), (0, (-w) % STRIDE)), mode="edge")
    x = torch.from_numpy(padded.astype(np.float32) / peak)[None]
    if channels is not None and channels != x.shape[1]:
        x = x.expand(-1, channels, -1, -1).contiguous()
    return x


def model_channels(model) -> int | None:
    """The channel count the network reads (the project's model classes record it)."""
    return getattr(model, "channels", None)


def to_image(x, shape: tuple[int, int], channels: int, bit_depth: int) -> np.ndarray:
    """1×C×H'×W' float in [0, 1] -> cropped integer image of the bit depth (a gray image coded by
    a 3-channel model: the mean of its three decoded planes)."""
    peak = (1 << bit_depth) - 1
    if channels == 1 and x.shape[1] != 1:
        x = x.mean(dim=1, keepdim=True)
    values = np.clip(np.rint(x[0].detach().cpu().numpy()[:, : shape[0], : shape[1]] * peak), 0, peak)
    values = values.astype(np.uint8 if bit_depth == 8 else np.uint16)
    return values[0] if channels == 1 else np.ascontiguousarray(np.moveaxis(values, 0, -1))


def encode_image(model, image: np.ndarray, bit_depth: int, rate_point: int) -> bytes:
    import torch

    channels = 1 if image.ndim == 2 else image.shape[2]
    with torch.no_grad(), one_thread():
        out = model.compress(to_tensor(image, bit_depth, model_channels(model)))
    (y_string,), (z_string,) = out["strings"]
    return bitstream.pack(channels, bit_depth, rate_point, image.shape[:2], tuple(out["shape"]), y_string, z_string)


def decode_image(model, data: bytes) -> tuple[np.ndarray, int]:
    """(image, rate point) from the bytes `encode_image` wrote."""
    import torch

    head = bitstream.unpack(data)
    with torch.no_grad(), one_thread():
        x = model.decompress([[head["y_string"]], [head["z_string"]]], head["z_shape"])["x_hat"]
    return to_image(x, head["shape"], head["channels"], head["bit_depth"]), head["rate_point"]


LIKELIHOOD_FLOOR = 1e-9  # CompressAI's own likelihood lower bound; an eval-mode likelihood can underflow to 0


def likelihood_bits(likelihoods: dict):
    """Σ −log2 p over every latent, each p floored as CompressAI bounds it (a symbol the coder
    still codes, at a finite cost, would otherwise count as infinitely many bits)."""
    import torch

    return sum((-torch.log2(v.clamp_min(LIKELIHOOD_FLOOR))).sum() for v in likelihoods.values())


ESTIMATE_VERSION = 2  # in the learned codecs' fingerprint: rows cached with an older bpp_estimate are recomputed


def estimated_bits(model, image: np.ndarray, bit_depth: int) -> float:
    """Ideal code length (bits) of the symbols the real coder codes, logged beside the real byte
    count; the bytes exceed it only by the coder's own overhead (quantised CDFs, stream flush).
    A hyperprior model's eval-mode `forward` quantises y and z as `compress` does, around the
    means and medians it codes with; an autoregressive model's does not (`coded_gaussian_params`)."""
    import torch
    from compressai.models import JointAutoregressiveHierarchicalPriors

    x = to_tensor(image, bit_depth, model_channels(model))
    with torch.no_grad(), one_thread():
        if isinstance(model, JointAutoregressiveHierarchicalPriors):
            likelihoods = _autoregressive_likelihoods(model, x)
        else:
            likelihoods = model(x)["likelihoods"]
    return float(likelihood_bits(likelihoods))


def _autoregressive_likelihoods(model, x) -> dict:
    y = model.g_a(x)
    z_hat, z_likelihoods = model.entropy_bottleneck(model.h_a(y), training=False)  # round(z − median) + median, as coded
    scales_hat, means_hat = coded_gaussian_params(model, y, model.h_s(z_hat))
    _, y_likelihoods = model.gaussian_conditional(y, scales_hat, means=means_hat, training=False)
    return {"y": y_likelihoods, "z": z_likelihoods}


def coded_gaussian_params(model, y, params):
    """(scales, means) of y as the serial coder predicts them. `forward` feeds the context model
    round(y), but `compress` codes round(y − μ) position by position, μ predicted from the
    neighbours as coded, round(y − μ) + μ. That y_hat is the one fixed point of the loop below:
    a position depends on earlier ones alone, so each pass settles at least one more, and in
    practice many (≈50 passes for 192 positions of a 217×181 slice). Cost: those parallel
    passes, no entropy coding (0.15 s against 2.2 s for compress + decompress, one core)."""
    import torch

    y_hat = torch.round(y)  # forward's context, a first guess
    for _ in range(y.shape[-2] * y.shape[-1]):
        ctx_params = model.context_prediction(y_hat)
        scales_hat, means_hat = model.entropy_parameters(torch.cat((params, ctx_params), dim=1)).chunk(2, 1)
        coded = model.gaussian_conditional.quantize(y, "dequantize", means_hat)
        if torch.equal(coded, y_hat):
            break
        y_hat = coded
    return scales_hat, means_hat
