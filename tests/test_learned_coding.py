"""Learned coding core: CompressAI's own models on 1 or 3 channels, real bitstreams that carry
everything decode needs, and decoding in a fresh process gives the very same pixels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("compressai")

from bench.codecs.learned import bitstream  # noqa: E402
from bench.codecs.learned.coding import decode_image, encode_image  # noqa: E402
from bench.codecs.learned.models import build_model  # noqa: E402

FAST = ["bmshj2018-hyperprior", "mbt2018-mean"]  # cheng2020-anchor's context model decodes serially: slow tests


def _model(arch: str, channels: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    model = build_model(arch, 16, 24, channels).eval()
    model.update(force=True)
    return model


def _slice(h=75, w=101, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    return np.clip(128 + 80 * np.sin(xx / 9) * np.cos(yy / 13) + rng.normal(0, 6, (h, w)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("arch", FAST + ["cheng2020-anchor"])
def test_models_are_compressai_classes_with_swapped_end_layers(arch):
    from compressai.models import Cheng2020Anchor, MeanScaleHyperprior, ScaleHyperprior

    base = {"bmshj2018-hyperprior": ScaleHyperprior, "mbt2018-mean": MeanScaleHyperprior,
            "cheng2020-anchor": Cheng2020Anchor}[arch]
    gray = build_model(arch, 16, 24, 1)
    assert isinstance(gray, base)
    first = next(p for p in gray.g_a.parameters() if p.ndim == 4)
    assert first.shape[1] == 1
    import torch

    x = torch.rand(1, 1, 64, 64)
    assert gray(x)["x_hat"].shape == x.shape
    assert build_model(arch, 16, 24, 3)(torch.rand(1, 3, 64, 64))["x_hat"].shape == (1, 3, 64, 64)


@pytest.mark.parametrize("arch", FAST)
def test_round_trip_any_size_and_bit_depth_from_bytes_alone(arch):
    gray = _slice()
    model = _model(arch, 1)
    data = encode_image(model, gray, 8, 3)
    head = bitstream.unpack(data)
    assert (head["shape"], head["channels"], head["bit_depth"], head["rate_point"]) == ((75, 101), 1, 8, 3)
    image, rate_point = decode_image(model, data)
    assert image.shape == gray.shape and image.dtype == np.uint8 and rate_point == 3
    rgb12 = (np.stack([gray, gray[::-1], 255 - gray], -1).astype(np.uint16) << 4) | 15
    rgb_model = _model(arch, 3)
    decoded, _ = decode_image(rgb_model, encode_image(rgb_model, rgb12, 12, 0))
    assert decoded.shape == rgb12.shape and decoded.dtype == np.uint16 and decoded.max() <= 4095


def test_broken_streams_are_refused():
    model = _model("mbt2018-mean", 1)
    data = encode_image(model, _slice(), 8, 0)
    for bad, why in ((data[:10], "shorter"), (b"XX" + data[2:], "not a learned-codec"), (data[:20], "truncated")):
        with pytest.raises(ValueError, match=why):
            bitstream.unpack(bad)


_DECODE_ELSEWHERE = """
import sys, numpy as np, torch
from bench.checkpoints import load_checkpoint
from bench.codecs.learned.coding import decode_image
from bench.codecs.learned.models import build_model
state, manifest = load_checkpoint(sys.argv[1])
model = build_model(manifest["arch"], 16, 24, 1)
model.load_state_dict(state)
model.eval().update(force=True)
image, _ = decode_image(model, open(sys.argv[2], "rb").read())
np.save(sys.argv[3], image)
"""


@pytest.mark.parametrize("arch", FAST)
def test_a_fresh_process_decodes_the_same_pixels(arch, tmp_path):
    from bench.checkpoints import load_checkpoint, save_checkpoint

    model = _model(arch, 1)
    path = save_checkpoint(tmp_path / "codec.safetensors", model.state_dict(), {"arch": arch})
    state, _ = load_checkpoint(path)  # encode with the weights as stored, as the codec will
    stored = build_model(arch, 16, 24, 1)
    stored.load_state_dict(state)
    stored.eval().update(force=True)
    image = _slice()
    (tmp_path / "stream.bin").write_bytes(encode_image(stored, image, 8, 0))
    here, _ = decode_image(stored, (tmp_path / "stream.bin").read_bytes())
    proc = subprocess.run([sys.executable, "-c", _DECODE_ELSEWHERE, str(path), str(tmp_path / "stream.bin"),
                           str(tmp_path / "there.npy")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "there.npy"), here)


def _predictive_cheng(gain: float = 5.0, scale: float = 0.15):
    """A small cheng2020-anchor (random analysis, `gain` × its latents) whose context model predicts
    each latent as the mean of its left and upper neighbours, with a fixed small scale: as in a
    trained model at low rate, what forward feeds the context (round(y)) then costs other bits than
    what the serial coder feeds it (the neighbours as coded, round(y − μ) + μ)."""
    import torch

    torch.manual_seed(0)
    model = build_model("cheng2020-anchor", 8, 8, 1).eval()
    M, big = model.M, 50.0  # `big` keeps the LeakyReLUs of entropy_parameters in their linear part
    ep, j = model.entropy_parameters, torch.arange(model.M)
    with torch.no_grad():
        model.g_a[-1].weight.mul_(gain)
        model.g_a[-1].bias.mul_(gain)
        for layer in (ep[0], ep[2], ep[4], model.context_prediction):
            layer.weight.zero_()
            layer.bias.zero_()
        ep[0].weight[j, 2 * M + j] = 1  # context channel j -> mean j, through the two hidden layers
        ep[0].bias[:M] = big
        ep[2].weight[j, j] = 1
        ep[4].weight[M + j, j] = 1
        ep[4].bias[M:] = -big
        ep[4].bias[:M] = scale  # scales first, then means, as CompressAI chunks them
        model.context_prediction.weight[j, j, 2, 1] = 0.5  # left neighbour
        model.context_prediction.weight[j, j, 1, 2] = 0.5  # upper neighbour
    model.update(force=True)
    return model


def test_autoregressive_estimate_matches_the_real_bytes():
    """The estimate is the ideal length of what the coder codes: within 5% of the real payload
    (the rest is the coder's flush and CDF overhead), where forward's likelihoods miss by >10%."""
    import torch

    from bench.codecs.learned.coding import estimated_bits, likelihood_bits, to_tensor

    model, image = _predictive_cheng(), _slice(256, 256)
    head = bitstream.unpack(encode_image(model, image, 8, 0))
    real = 8 * (len(head["y_string"]) + len(head["z_string"]))
    with torch.no_grad():
        forward_bits = float(likelihood_bits(model(to_tensor(image, 8))["likelihoods"]))
    assert abs(real / estimated_bits(model, image, 8) - 1) < 0.05
    assert abs(real / forward_bits - 1) > 0.10  # this model does tell the two estimates apart


def test_autoregressive_estimate_uses_the_latents_the_decoder_rebuilds():
    """The fixed point of `coded_gaussian_params` is the y_hat CompressAI's decoder passes to g_s."""
    import torch

    from bench.codecs.learned.coding import coded_gaussian_params, to_tensor

    model, x = _predictive_cheng(), to_tensor(_slice(128, 128), 8)
    seen = {}
    hook = model.g_s.register_forward_pre_hook(lambda _, args: seen.setdefault("y_hat", args[0]))
    with torch.no_grad():
        out = model.compress(x)
        model.decompress(out["strings"], out["shape"])
        hook.remove()
        y = model.g_a(x)
        z_hat, _ = model.entropy_bottleneck(model.h_a(y), training=False)
        _, means = coded_gaussian_params(model, y, model.h_s(z_hat))
    coded = model.gaussian_conditional.quantize(y, "dequantize", means)
    assert (coded - seen["y_hat"]).abs().max() < 1e-3
    assert (torch.round(y) - seen["y_hat"]).abs().max() > 0.1  # forward's context would differ



def test_coding_runs_on_one_torch_thread_whatever_the_process_uses():
    """The pixels a stream decodes to must not depend on the process's torch thread count: a pool
    worker has one thread, `-j 1` two, and a stream cached by a worker is decoded again in the
    main process for a task. Unpinned, the shipped mbt2018-mean at its top rate point decoded
    9 of these 24 colin27 test streams one grey level apart on 2 threads against 1."""
    import torch

    from bench.cells import build_codec
    from bench.datasets.colin27 import open_colin27
    from bench.errors import BenchError

    try:
        data = open_colin27()
    except BenchError as exc:
        pytest.skip(str(exc))
    codec = build_codec("mbt2018-mean")
    codec.for_dataset(data.name, data.fingerprint)
    before = torch.get_num_threads()
    try:
        for sample in data.split("test"):
            torch.set_num_threads(2)
            stream = codec.encode(sample.image, 4, 8)
            two = codec.decode(stream)
            assert torch.get_num_threads() == 2  # the caller's count comes back
            torch.set_num_threads(1)
            one = codec.decode(stream)
            assert np.array_equal(one, two), f"{sample.id}: {np.count_nonzero(one != two)} pixels differ"
    finally:
        torch.set_num_threads(before)
