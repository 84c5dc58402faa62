"""CompressAI zoo checkpoints as users bring them (`NAME:weights=PATH`), checked offline: files in
the zoo's format are made here from CompressAI's own classes with the old key names, and the
project's coding must give CompressAI's own compress bytes and decompress pixels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("compressai")

import torch  # noqa: E402

from bench import registry  # noqa: E402
from bench.checkpoints import file_sha256  # noqa: E402
from bench.errors import BenchError  # noqa: E402

SIZES = {"bmshj2018-hyperprior": (8, 12), "mbt2018-mean": (8, 12), "cheng2020-anchor": (8, 8)}


def _compressai_class(arch: str):
    from compressai.models import Cheng2020Anchor, MeanScaleHyperprior, ScaleHyperprior

    return {"bmshj2018-hyperprior": ScaleHyperprior, "mbt2018-mean": MeanScaleHyperprior, "cheng2020-anchor": Cheng2020Anchor}[arch]


def _old_style(key: str) -> str:
    """The names older CompressAI releases saved (what `load_pretrained` renames back)."""
    for new, old in (("_matrix", "_matrices."), ("_bias", "_biases."), ("_factor", "_factors.")):
        if key.startswith(f"entropy_bottleneck.{new}"):
            key = f"entropy_bottleneck.{old}{key[len('entropy_bottleneck.' + new):]}"
    return "module." + key.replace(".skip.", ".downsample.")


def make_zoo_file(folder, arch: str, quality: int, seed: int = 0):
    """A CompressAI-format file: an RGB model of `arch`, coder tables updated, saved with old keys
    under `{arch}-{quality}-{sha256[:8]}.pth.tar`."""
    torch.manual_seed(seed)
    N, M = SIZES[arch]
    model = _compressai_class(arch)(N) if arch == "cheng2020-anchor" else _compressai_class(arch)(N, M)
    with torch.no_grad():  # a trained-looking latent range, so that codes are not all zeros
        for p in model.parameters():
            p.mul_(1.5)
    model.update(force=True)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp.pth.tar"
    torch.save({_old_style(k): v for k, v in model.state_dict().items()}, tmp)
    path = folder / f"{arch}-{quality}-{file_sha256(tmp)[:8]}.pth.tar"
    tmp.rename(path)
    return path


def _reference(path, arch):
    """CompressAI's own zoo loading of the same file."""
    from compressai.zoo.pretrained import load_pretrained

    return _compressai_class(arch).from_state_dict(load_pretrained(torch.load(path, weights_only=True))).eval()


def _codec(weights: str, name: str = "mbt2018-mean"):
    codec = registry.get("codec", name)(weights=weights)
    codec.for_dataset("phantom", "not-checked")
    return codec


def _gray(h=70, w=90, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    return np.clip(120 + 60 * np.sin(xx / 9) * np.cos(yy / 13) + rng.normal(0, 4, (h, w)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor"])
def test_zoo_file_codes_to_compressai_s_own_bytes_and_pixels(arch, tmp_path):
    from bench.codecs.learned import bitstream
    from bench.codecs.learned.coding import to_tensor

    path = make_zoo_file(tmp_path, arch, 3)
    codec, ref, image = _codec(str(path), arch), _reference(path, arch), _gray()
    data = codec.encode(image, 0)
    with torch.no_grad():
        x = to_tensor(image, 8).expand(-1, 3, -1, -1)  # the gray plane as three equal planes
        out = ref.compress(x)
        x_hat = ref.decompress(out["strings"], out["shape"])["x_hat"]
    head = bitstream.unpack(data)
    assert head["y_string"] == out["strings"][0][0] and head["z_string"] == out["strings"][1][0]
    assert len(data) == bitstream._HEADER.size + len(out["strings"][0][0]) + len(out["strings"][1][0])
    expected = np.clip(np.rint(x_hat.mean(1)[0, :70, :90].numpy() * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(codec.decode(data), expected)
    assert codec.manifest["rate_points"][0]["sha256"] == file_sha256(path)


def test_rate_points_follow_quality_and_n_m_come_from_the_weights(tmp_path):
    low, high = make_zoo_file(tmp_path / "zoo", "mbt2018-mean", 1), make_zoo_file(tmp_path / "zoo", "mbt2018-mean", 5, seed=1)
    make_zoo_file(tmp_path / "zoo", "bmshj2018-hyperprior", 2)  # another architecture in the folder: not picked up
    folder = _codec(str(tmp_path / "zoo"))
    assert [p["quality"] for p in folder.manifest["rate_points"]] == [1, 5] and folder.scale.defaults == (0, 1)
    assert folder.manifest["N"] == [8] and folder.manifest["M"] == [12]
    joined = _codec(f"{high}+{low}")
    assert [p["file"] for p in joined.manifest["rate_points"]] == [low.name, high.name]
    assert joined.weights_id == folder.weights_id


def test_a_3_channel_image_codes_as_it_is(tmp_path):
    codec = _codec(str(make_zoo_file(tmp_path, "mbt2018-mean", 2)))
    rgb = np.stack([_gray(seed=s) for s in (1, 2, 3)], axis=-1)
    decoded = codec.decode(codec.encode(rgb, 0))
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8


@pytest.mark.parametrize("case, message", [
    ("bad-name", "is not named like CompressAI's checkpoints"),
    ("other-arch", "is a 'bmshj2018-hyperprior' checkpoint, not 'mbt2018-mean'"),
    ("altered", "its SHA-256 begins"),
    ("pickle", "is not a plain state dict"),
    ("missing", "does not exist"),
    ("empty-folder", "no mbt2018-mean checkpoints named like CompressAI's"),
])
def test_bad_zoo_weights_fail_with_one_line(case, message, tmp_path):
    good = make_zoo_file(tmp_path / "good", "mbt2018-mean", 1)
    if case == "bad-name":
        target = good.rename(tmp_path / "my-model.pth.tar")
    elif case == "other-arch":
        target = make_zoo_file(tmp_path, "bmshj2018-hyperprior", 1)
    elif case == "altered":
        target = tmp_path / "mbt2018-mean-1-00000000.pth.tar"
        target.write_bytes(good.read_bytes())
    elif case == "pickle":  # pickled code: weights_only refuses it before anything runs
        import pickle

        (tmp_path / "x.pth.tar").write_bytes(pickle.dumps(pd.Timestamp("2020-01-01")))
        target = tmp_path / f"mbt2018-mean-1-{file_sha256(tmp_path / 'x.pth.tar')[:8]}.pth.tar"
        (tmp_path / "x.pth.tar").rename(target)
    elif case == "missing":
        target = tmp_path / "mbt2018-mean-1-12345678.pth.tar"
    else:
        target = tmp_path / "empty"
        target.mkdir()
    with pytest.raises(BenchError, match=message) as caught:
        _codec(str(target))
    assert "\n" not in str(caught.value)


def test_mvmicnet_refuses_zoo_weights(tmp_path):
    with pytest.raises(BenchError, match="CompressAI publishes no pretrained mvmicnet"):
        _codec(str(make_zoo_file(tmp_path, "mbt2018-mean", 1)), "mvmicnet")


def test_zoo_downloads_only_when_allowed_and_offline_fails_in_one_line(tmp_path, monkeypatch):
    import compressai.zoo.image as image_zoo

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setitem(image_zoo.model_urls, "mbt2018-mean", {"mse": {1: "http://127.0.0.1:9/mbt2018-mean-1-e522738d.pth.tar"}})
    monkeypatch.delenv("BENCH_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(BenchError, match="pass --allow-download"):
        _codec("zoo")
    monkeypatch.setenv("BENCH_ALLOW_DOWNLOAD", "1")
    with pytest.raises(BenchError, match="could not download http://127.0.0.1:9/") as caught:
        _codec("zoo")
    assert "\n" not in str(caught.value) and not list((tmp_path / "hub").rglob("*.pth.tar"))
    here = make_zoo_file(tmp_path / "hub" / "checkpoints", "mbt2018-mean", 1)  # already in torch.hub's folder: no download
    monkeypatch.setitem(image_zoo.model_urls, "mbt2018-mean", {"mse": {1: f"http://127.0.0.1:9/{here.name}"}})
    monkeypatch.delenv("BENCH_ALLOW_DOWNLOAD")
    assert _codec("zoo").manifest["rate_points"][0]["file"] == here.name


def test_bench_run_with_zoo_weights_records_their_hashes(cli, tmp_path):
    first, second = make_zoo_file(tmp_path / "zoo", "mbt2018-mean", 1), make_zoo_file(tmp_path / "zoo", "mbt2018-mean", 4, seed=3)
    out = tmp_path / "run"
    proc = cli("run", "--codecs", f"mbt2018-mean:weights={tmp_path / 'zoo'}", "--data", "phantom:mr8", "--task", "none",
               "--limit", "2", "--out", str(out), "--quiet", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    results = pd.read_parquet(out / "results.parquet")
    coded = results[results.codec.str.startswith("mbt2018-mean")]
    assert (coded.status == "ok").all() and sorted(coded.quality.unique()) == [0, 1]
    assert (coded.bpp == 8 * coded.bytes / (coded.height * coded.width)).all()
    params = json.loads((out / "manifest.json").read_text())["codecs"][coded.codec.iloc[0]]["params"]
    assert params["source"] == "compressai-zoo" and params["qualities"] == [1, 4]
    assert params["files"] == {first.name: file_sha256(first), second.name: file_sha256(second)}
    offline = cli("run", "--codecs", "mbt2018-mean:weights=zoo", "--data", "phantom:mr8", "--task", "none", "--limit", "1",
                  "--out", str(tmp_path / "none"), "--quiet", env={"TORCH_HOME": str(tmp_path / "torch")})
    assert offline.returncode != 0 and "pass --allow-download" in offline.stderr and "Traceback" not in offline.stderr
    assert not (tmp_path / "none").exists()
