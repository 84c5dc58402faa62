"""Learned codec plugins: CompressAI's hyperprior anchors, trained in-project per dataset.

`bmshj2018-hyperprior`, `mbt2018-mean` and `cheng2020-anchor` are CompressAI's own classes
(`models.py` adapts the channel count), trained by `bench train-codec NAME --data DATASET` into
one checkpoint holding every rate point of its λ ladder. The quality is the rate point's index
(0 = lowest rate); each point's λ, val bpp from real bytes and PSNR are in the checkpoint's
manifest and in `bench run`'s manifest. A dataset without a checkpoint makes the codec
unavailable for it, with the command that trains one; a checkpoint trained on other data is
refused. `weights=` also takes CompressAI's pretrained zoo files (`zoo.py`): RGB models, which
code a gray image as three equal planes and average the decoded planes back. Coding runs on the
CPU whatever `--device` says (see `coding.py`).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np

from bench.codecs.base import Codec, QualityScale
from bench.codecs.options import CodecOption
from bench.errors import BenchError, UnsupportedInput

MAX_RATE_POINTS = 16
ENTROPY_CODER = "ans"  # compressai's default; `bench` never calls compressai.set_entropy_coder


class LearnedCodec(Codec):
    family = "learned"
    deterministic = False  # same bytes on the same CPU, but float kernels differ between CPUs: `bench check` compares PSNR, not bytes
    bit_depths = (8, 10, 12, 16)  # images are normalised by their bit depth's peak
    channels = (1, 3)
    architecture: ClassVar[str]
    scale = QualityScale(
        name="rate_point",
        meaning="index of the checkpoint's trained rate points, 0 = lowest rate (λ per point in the manifest)",
        low=0, high=MAX_RATE_POINTS - 1, defaults=(0, 1, 2, 3, 4), higher_is_better=True,
    )
    options = (CodecOption("weights", str, "", "a checkpoint trained here, or CompressAI zoo files (FILE.pth.tar, a folder, "
                                               "A+B, or 'zoo' for CompressAI's own), instead of the one trained for the dataset"),)
    takes_zoo_weights: ClassVar[bool] = True  # CompressAI publishes pretrained files of this architecture

    # -- training: how `bench train-codec NAME` trains this codec ------------------------------
    trainer: ClassVar[str] = "bench.train.anchors"  # a module with train(codec_cls, request) and benchmark_recipe(...)

    @classmethod
    def check_train_request(cls, request) -> None:
        if request.tasks or request.stage:
            raise BenchError(f"--task/--stage apply to mvmicnet only, not '{cls.name}'")

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.models: list = []
        self.manifest: dict | None = None
        self.weights_id: str | None = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        from importlib.util import find_spec

        for module in ("torch", "compressai"):  # found, not imported: importing compressai costs seconds
            if find_spec(module) is None:
                return f"{module} is not installed (pip install {module})"
        return None

    @classmethod
    @functools.lru_cache(maxsize=None)
    def backend(cls) -> str:
        """Names compressai's entropy coder without importing compressai: the project never changes
        it from compressai's default, "ans" (a test checks the two agree)."""
        from importlib.metadata import version

        return f"compressai {version('compressai')} ({cls.architecture}, entropy coder {ENTROPY_CODER})"

    # -- the weights trained for a dataset ---------------------------------------------------
    @classmethod
    def checkpoint_stem(cls, settings: dict | None = None) -> str:
        """`<stem>-<dataset>.safetensors` is the checkpoint looked up for a dataset."""
        return cls.name

    @classmethod
    def train_command(cls, dataset: str, settings: dict | None = None) -> str:
        from bench.checkpoints import retrain_command

        return retrain_command(cls.name, dataset, "codecs")

    @classmethod
    def dataset_reason(cls, dataset) -> str | None:
        from bench.checkpoints import find_checkpoint, stale_reason

        if find_checkpoint(cls.checkpoint_stem(), dataset.name, packaged="codecs") is None:
            return f"no trained {cls.checkpoint_stem()} for '{dataset.name}'; train one with `{cls.train_command(dataset.name)}`"
        return stale_reason(cls.checkpoint_stem(), dataset, packaged="codecs")

    @classmethod
    def find_weights(cls, dataset: str, settings: dict):
        """The checkpoint trained for `dataset` with these settings (installed or packaged), or None."""
        from bench.checkpoints import find_checkpoint

        return find_checkpoint(cls.checkpoint_stem(settings), dataset, packaged="codecs")

    def for_dataset(self, name: str, fingerprint: str) -> None:
        """Read and check the checkpoint now (a bad file fails before any work); build the networks
        on first use, so a run whose cells are all cached never imports torch or compressai."""
        from pathlib import Path

        from bench.checkpoints import load_checkpoint_arrays, weights_id

        from bench.codecs.learned import zoo

        if zoo.is_zoo_weights(self.settings["weights"]):
            return self._load_zoo(self.settings["weights"])
        stem = self.checkpoint_stem(self.settings)
        path = Path(self.settings["weights"]) if self.settings["weights"] else self.find_weights(name, self.settings)
        if path is None:
            raise BenchError(f"codec '{self.name}': no trained {stem} for '{name}'; "
                             f"train it with `{self.train_command(name, self.settings)}`")
        state, manifest = load_checkpoint_arrays(path, None if self.settings["weights"] else fingerprint)
        self.check_manifest(path, manifest, name)
        self.models, self._state, self.manifest, self.checkpoint = [], state, manifest, str(path)
        self.weights_id = weights_id(state, manifest["arch"])
        n = len(manifest["rate_points"])
        self.scale = QualityScale(self.scale.name, self.scale.meaning, 0, n - 1, tuple(range(n)), True)

    def _load_zoo(self, text: str) -> None:
        """CompressAI's pretrained files (see `zoo.py`): built now, since their CDF tables come with them."""
        import hashlib

        from bench.codecs.learned import zoo

        if not self.takes_zoo_weights:
            raise BenchError(f"codec '{self.name}': weights={text}: CompressAI publishes no pretrained {self.name}; "
                             "give a checkpoint trained by `bench train-codec`")
        self.models, self.manifest = zoo.describe(zoo.resolve(text, self.architecture, self.name), self.architecture, self.name)
        self._state, self.checkpoint = None, text
        digests = "".join(p["sha256"] for p in self.manifest["rate_points"])
        self.weights_id = hashlib.sha256(f"{self.architecture}:{digests}".encode()).hexdigest()[:16]
        n = len(self.models)
        self.scale = QualityScale(self.scale.name, self.scale.meaning + "; zoo weights: ordered by CompressAI quality",
                                  0, n - 1, tuple(range(n)), True)

    def ready(self) -> None:
        if self.manifest is not None and not self.models:
            self.models, self._state = self._build_models(), None  # the arrays live on in the networks

    def _build_models(self) -> list:
        import torch

        from bench.codecs.learned.models import build_model

        models = []
        for i in range(len(self.manifest["rate_points"])):
            prefix = f"p{i}."
            model = build_model(self.manifest["arch"], self.manifest["N"], self.manifest["M"], self.manifest["channels"])
            model.load_state_dict({k[len(prefix):]: torch.tensor(v) for k, v in self._state.items() if k.startswith(prefix)})
            model.eval().update(force=True)
            models.append(model)
        return models

    def check_manifest(self, path, manifest: dict, dataset: str) -> None:
        """Refuse a checkpoint of another architecture (subclasses add their own checks)."""
        if manifest.get("arch") != self.architecture:
            raise BenchError(f"codec '{self.name}': {path} holds a '{manifest.get('arch')}' model, not '{self.architecture}'")

    def params(self) -> dict:
        if self.manifest is None:
            return {}
        from pathlib import Path

        from bench.codecs.learned.coding import ESTIMATE_VERSION

        if self.manifest.get("source") == "compressai-zoo":  # not trained here: the files themselves identify it
            points = self.manifest["rate_points"]
            return {"weights_id": self.weights_id, "source": "compressai-zoo", "qualities": [p["quality"] for p in points],
                    "metric": points[0]["metric"], "files": {p["file"]: p["sha256"] for p in points},
                    "N": self.manifest["N"], "M": self.manifest["M"], "estimate": ESTIMATE_VERSION}
        return {"weights_id": self.weights_id, "checkpoint": Path(self.checkpoint).name, "N": self.manifest["N"], "M": self.manifest["M"],
                "lambdas": [p["lambda"] for p in self.manifest["rate_points"]], "estimate": ESTIMATE_VERSION}

    # -- coding ----------------------------------------------------------------------------
    def _model(self, rate_point: int):
        if self.manifest is None:
            raise BenchError(f"codec '{self.name}': no weights loaded (for_dataset was not called)")
        self.ready()
        if not 0 <= rate_point < len(self.models):
            raise UnsupportedInput(f"codec '{self.name}': rate point {rate_point} is not one of 0..{len(self.models) - 1}")
        return self.models[rate_point]

    def _encode(self, image: np.ndarray, quality: float, bit_depth: int) -> bytes:
        from bench.codecs.learned.coding import encode_image

        channels = 1 if image.ndim == 2 else image.shape[2]
        if self.manifest and channels != self.manifest["channels"] and not (channels == 1 and self.manifest["channels"] == 3):
            raise UnsupportedInput(f"codec '{self.name}': trained on {self.manifest['channels']}-channel images, got {channels}")
        return encode_image(self._model(int(quality)), image, bit_depth, int(quality))

    def estimated_bits(self, image: np.ndarray, quality: float, bit_depth: int) -> float | None:
        from bench.codecs.learned.coding import estimated_bits

        return estimated_bits(self._model(int(quality)), image, bit_depth)

    def _decode(self, data: bytes) -> np.ndarray:
        from bench.codecs.learned import bitstream
        from bench.codecs.learned.coding import decode_image

        image, _ = decode_image(self._model(bitstream.unpack(data)["rate_point"]), data)
        return image


class BMSHJ2018Hyperprior(LearnedCodec):
    """Ballé et al. 2018, scale hyperprior."""

    name = "bmshj2018-hyperprior"
    architecture = "bmshj2018-hyperprior"


class MBT2018Mean(LearnedCodec):
    """Minnen et al. 2018, mean-scale hyperprior (the paper's first learned anchor)."""

    name = "mbt2018-mean"
    architecture = "mbt2018-mean"


class Cheng2020Anchor(LearnedCodec):
    """Cheng et al. 2020 anchor: residual blocks, hyperprior and autoregressive context (the paper's
    second learned anchor). Its context model codes serially: seconds per slice on a CPU."""

    name = "cheng2020-anchor"
    architecture = "cheng2020-anchor"
