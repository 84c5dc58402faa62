"""`bench train-codec NAME --data DATASET`: rate–distortion training of a learned codec (the recipe).

Loss per rate point: λ·(2^b − 1)²·MSE + R, with MSE on images scaled to [0, 1] (so the first
term is the MSE in the data's own integer units, as CompressAI's recipe does for 8-bit) and R
the likelihood estimate in bits per pixel. The entropy models' quantiles get CompressAI's
auxiliary loss and optimiser.

Affordable by design, a λ ladder: the first (highest) λ trains from scratch for `steps`
steps; each next λ starts from the previous point's selected weights and fine-tunes for
`finetune_steps`. With `--init FILE`, every point starts from the committed point of the nearest
λ instead (so the ladder can grow at either end), for `finetune_steps` each. Data: random crops
of train-split slices only (left–right and up–down flips; images are normalised by their bit
depth); the weights kept for each point are those with the lowest R–D loss on the full val
slices, checked every `val_every` steps. The test split is never read. At the end of each point
the real entropy coder runs on the val slices, so the manifest reports bpp from bytes beside the
likelihood estimate. The loop itself (precision, budget, resume, selection) is `trainer.py`'s.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.train.trainer import LOOP_DEFAULTS, Recipe, Trainer, lineage_steps

DEFAULTS: dict[str, Any] = {
    **LOOP_DEFAULTS,
    "N": 64,
    "M": 96,
    "lambdas": [0.032, 0.0115, 0.0041, 0.0015, 0.00055],  # highest rate first: each point fine-tunes the previous one;
    # on colin27-aal these span about 0.05-0.5 bpp once trained (see codecs/weights/TRAINING.md)
    "steps": 8000,  # first point, from scratch
    "finetune_steps": 3000,  # each later point, and every point of an --init run
    "batch_size": 8,
    "crop": 128,
    "lr": 3e-4,
    "lr_final": 3e-5,  # cosine decay within each point
    "aux_lr": 1e-3,
}
ENTROPY_MODULES = ("entropy_bottleneck", "gaussian_conditional")  # fp32 under bf16 autocast
TRANSFORMS = ("g_a", "g_s", "h_a", "h_s")  # what compile=True compiles


def options_for(overrides: dict[str, Any], defaults: dict[str, Any] = DEFAULTS, what: str = "train-codec") -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise BenchError(f"{what}: unknown option {unknown[0]!r}; known: {', '.join(defaults)}")
    opts = {**defaults, **overrides}
    if "lambdas" in opts:
        opts["lambdas"] = [float(v) for v in (opts["lambdas"] if isinstance(opts["lambdas"], list) else [opts["lambdas"]])]
        if not opts["lambdas"]:
            raise BenchError(f"{what}: lambdas must hold at least one value")
    return opts


def normalised(samples) -> list[np.ndarray]:
    """C×H×W float32 in [0, 1] per sample, by its bit depth."""
    out = []
    for s in samples:
        planes = s.image[None] if s.image.ndim == 2 else np.moveaxis(s.image, -1, 0)
        out.append(planes.astype(np.float32) / float((1 << s.bit_depth) - 1))
    return out


def crop_batch(images: list[np.ndarray], size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Random crops (zero-padded when an image is smaller) with random flips."""
    out = np.zeros((batch, images[0].shape[0], size, size), np.float32)
    for b in range(batch):
        image = images[rng.integers(len(images))]
        _, h, w = image.shape
        top, left = rng.integers(max(h - size, 0) + 1), rng.integers(max(w - size, 0) + 1)
        patch = image[:, top:top + size, left:left + size]
        if rng.random() < 0.5:
            patch = patch[:, :, ::-1]
        if rng.random() < 0.5:
            patch = patch[:, ::-1, :]
        out[b, :, : patch.shape[1], : patch.shape[2]] = patch
    return out


def rd_terms(model, x, shape=None):
    """(mse, bpp estimate) of a batch, both in fp32; with `shape`, the distortion is measured on the unpadded part."""
    import torch

    from bench.codecs.learned.coding import likelihood_bits

    out = model(x)
    x_hat = out["x_hat"].float()
    if shape is not None:
        x, x_hat = x[..., : shape[0], : shape[1]], x_hat[..., : shape[0], : shape[1]]
    pixels = x.shape[0] * x.shape[-2] * x.shape[-1]
    bits = likelihood_bits({k: v.float() for k, v in out["likelihoods"].items()})
    return torch.mean((x_hat - x.float()) ** 2), bits / pixels


def validate(model, val_samples, lam: float, peak: float) -> dict[str, float]:
    """R–D loss, PSNR and estimated bpp on whole val slices, padded as the codec pads them (fp32)."""
    import torch

    from bench.codecs.learned.coding import to_tensor

    model.eval()
    mses, bpps = [], []
    with torch.no_grad():
        for s in val_samples:
            x = to_tensor(s.image, s.bit_depth).to(next(model.parameters()).device)
            mse, bpp = rd_terms(model, x, s.image.shape[:2])
            mses.append(float(mse))
            bpps.append(float(bpp))
    model.train()
    mse, bpp = float(np.mean(mses)), float(np.mean(bpps))
    return {"val_loss": lam * peak**2 * mse + bpp, "val_psnr": float(np.mean([10 * math.log10(1 / max(m, 1e-12)) for m in mses])),
            "val_bpp_est": bpp}


def real_rate(model, val_samples, point: int, lam: float | None = None) -> dict[str, float]:
    """Entropy-coded bytes of the val slices: bpp from bytes, PSNR of the decoded pixels, and (with
    `lam`) the R–D loss of the real stream, λ·(2^b−1)²·MSE(decoded) + bpp(bytes)."""
    from bench.codecs.learned.coding import decode_image, encode_image, estimated_bits
    from bench.quality import psnr

    model = model.to("cpu").eval()
    model.update(force=True)
    bpp, est, quality, mse = [], [], [], []
    for s in val_samples:
        data = encode_image(model, s.image, s.bit_depth, point)
        decoded, _ = decode_image(model, data)
        pixels = s.image.shape[0] * s.image.shape[1]
        bpp.append(8 * len(data) / pixels)
        est.append(estimated_bits(model, s.image, s.bit_depth) / pixels)
        quality.append(psnr(s.image, decoded, s.bit_depth))
        peak = float((1 << s.bit_depth) - 1)
        mse.append(float(np.mean((decoded.astype(np.float64) / peak - s.image.astype(np.float64) / peak) ** 2)))
    out = {"val_bpp": float(np.mean(bpp)), "val_bpp_estimate": float(np.mean(est)), "val_psnr_decoded": float(np.mean(quality))}
    if lam is not None:
        peak = float((1 << val_samples[0].bit_depth) - 1)
        out["val_loss_bytes"] = float(lam * peak**2 * np.mean(mse) + out["val_bpp"])
    return out


def codec_optimisers(model, lr: float, aux_lr: float):
    """Adam on the network, and a second Adam on the entropy bottleneck's quantiles (CompressAI's aux loss)."""
    import torch

    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles") and p.requires_grad]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    return main, torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=aux_lr)


def single_kind(dataset, what: str) -> tuple[int, int]:
    """(channels, bit depth) of the train and val splits, which must share one of each."""
    samples = dataset.split("train") + dataset.split("val")
    channels, depths = {s.channels for s in samples}, {s.bit_depth for s in samples}
    if len(channels) != 1 or len(depths) != 1:
        raise BenchError(f"{what}: '{dataset.name}' mixes channel counts {sorted(channels)} or bit depths {sorted(depths)}; "
                         "train one codec per kind of image")
    return channels.pop(), depths.pop()


def nearest_point(manifest: dict, lam: float) -> int:
    """Index of the rate point whose λ is nearest `lam` on a log scale."""
    lambdas = [float(p["lambda"]) for p in manifest["rate_points"]]
    return int(np.argmin([abs(math.log(lam / v)) for v in lambdas]))


class CompressionRecipe(Recipe):
    """What the learned codecs share: CompressAI models, their aux loss, fp32 entropy models."""

    fp32_modules = ENTROPY_MODULES
    compile_modules = TRANSFORMS

    def optimisers(self, model, lr: float):
        return codec_optimisers(model, lr, float(self.opts["aux_lr"]))

    def aux_loss(self, model):
        return model.aux_loss()


class RateDistortionRecipe(CompressionRecipe):
    """The anchors' recipe: a λ ladder of random crops, R + λ·D."""

    log_fields = ["lambda", "loss", "mse", "bpp_est", "aux", "val_loss", "val_psnr", "val_bpp_est"]

    def __init__(self, arch: str, dataset, opts: dict[str, Any], from_init: bool) -> None:
        from bench.codecs.learned.models import ARCHITECTURES

        if arch not in ARCHITECTURES:
            raise BenchError(f"train-codec: unknown architecture '{arch}' (known: {', '.join(ARCHITECTURES)})")
        self.arch, self.dataset, self.opts, self.from_init = arch, dataset, opts, from_init
        self.name = arch
        self.channels, self.bit_depth = single_kind(dataset, "train-codec")
        self.peak = float((1 << self.bit_depth) - 1)
        self.train_images = normalised(dataset.split("train"))
        self.val_set = dataset.split("val")
        self.lambdas = opts["lambdas"]
        self.init_point: int | None = None  # the --init point the current point started from

    def state(self) -> dict:
        return {"init_point": self.init_point}

    def load_state(self, state: dict) -> None:
        self.init_point = state["init_point"]

    def config(self) -> dict:
        return {"arch": self.arch, "opts": {k: v for k, v in self.opts.items() if k != "time_budget_s"},
                "fingerprint": self.dataset.fingerprint}

    def build(self, device: str):
        from bench.codecs.learned.models import build_model

        return build_model(self.arch, int(self.opts["N"]), int(self.opts["M"]), self.channels).to(device)

    def points(self) -> list[dict]:
        first = int(self.opts["finetune_steps"] if self.from_init else self.opts["steps"])
        return [{"label": f"λ={lam:g}", "lambda": lam, "steps": first if i == 0 else int(self.opts["finetune_steps"])}
                for i, lam in enumerate(self.lambdas)]

    def begin_point(self, i: int, model, done: list[dict]) -> None:
        from bench.checkpoints import as_stored

        init, self.init_point = self.init, None
        if init is not None:  # the committed point of the nearest λ
            if (init.manifest.get("arch"), init.manifest.get("N"), init.manifest.get("M")) != (self.arch, self.opts["N"], self.opts["M"]):
                raise BenchError(f"--init {init.path.name}: it holds {init.manifest.get('arch')} N={init.manifest.get('N')} "
                                 f"M={init.manifest.get('M')}, not {self.arch} N={self.opts['N']} M={self.opts['M']}")
            self.init_point = nearest_point(init.manifest, self.lambdas[i])
            load_weights(model, init.point(self.init_point))
        elif done:  # fine-tune from the previous point's selection
            load_weights(model, as_stored(done[-1]["weights"]))

    def training_step(self, i: int, model, rng):
        import torch

        from bench.train.precision import as_input

        device = next(model.parameters()).device
        x = torch.from_numpy(crop_batch(self.train_images, int(self.opts["crop"]), int(self.opts["batch_size"]), rng)).to(device)
        mse, bpp = rd_terms(model, as_input(x, model))
        lam = self.lambdas[i]
        loss = lam * self.peak**2 * mse + bpp
        return loss, {"lambda": lam, "loss": f"{float(loss.detach()):.5f}", "mse": f"{float(mse.detach()):.6g}",
                      "bpp_est": f"{float(bpp.detach()):.5f}"}

    def validate(self, i: int, model) -> dict[str, float]:
        return validate(model, self.val_set, self.lambdas[i], self.peak)

    def finish_point(self, i: int, model, best: dict, steps: int) -> dict:
        measured = real_rate(model, self.val_set, i, self.lambdas[i])
        return {"lambda": self.lambdas[i], "steps": steps, "total_steps": lineage_steps(self.init, self.init_point, steps),
                **({"init_point": self.init_point} if self.init_point is not None else {}),
                "val_loss": best["val_loss"], "val_psnr_estimate": best["val_psnr"], **measured}


def load_weights(model, weights: dict) -> None:
    """Load a point's weights; the coder's tables (rebuilt by `update()` before coding) keep the model's shapes."""
    tables = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")
    current = model.state_dict()
    merged = {k: (current[k] if k.endswith(tables) and k in current else v) for k, v in weights.items()}
    model.load_state_dict(merged)


def train_codec(arch: str, dataset, out: Path, overrides: dict[str, Any] | None = None, seed: int = 0,
                device: str = "cpu", resume: bool = False, show_progress: bool = True, label: dict | None = None,
                init: Path | None = None) -> dict[str, Any]:
    """Train every rate point of `arch` on `dataset`'s train split in this process; write `out` (all
    points) + manifest (`label`: extra manifest fields, e.g. MVMICNet's stage 1 saying what it is).
    Rate points side by side in several processes: `parallel.train_codec_parallel`."""
    opts = options_for(overrides or {})
    recipe = RateDistortionRecipe(arch, dataset, opts, from_init=init is not None)
    trainer = Trainer(recipe, out, seed=seed, device=device, resume=resume, init=init, fingerprint=dataset.fingerprint,
                      show_progress=show_progress)
    records, facts = trainer.run()
    return write_codec_checkpoint(Path(out), recipe, records, facts, seed, device, label)


def write_codec_checkpoint(out: Path, recipe: RateDistortionRecipe, records: list[dict], facts: dict, seed: int, device: str,
                           label: dict | None) -> dict:
    from bench.checkpoints import save_checkpoint
    from bench.manifest import package_versions

    points = sorted(records, key=lambda p: p["lambda"])  # rate point 0 = lowest rate
    weights = {f"p{i}.{k}": v for i, p in enumerate(points) for k, v in p["weights"].items()}
    dataset = recipe.dataset
    manifest = {
        "kind": "codec",
        "arch": recipe.arch,
        "dataset": dataset.name,
        "dataset_fingerprint": dataset.fingerprint,
        "channels": recipe.channels,
        "trained_bit_depth": recipe.bit_depth,
        "N": int(recipe.opts["N"]),
        "M": int(recipe.opts["M"]),
        "rate_points": [{k: v for k, v in p.items() if k != "weights"} for p in points],
        "config": recipe.opts,
        "seed": seed,
        "device": device,
        **facts,
        "split_sizes": {"train": len(dataset.split("train")), "val": len(recipe.val_set)},
        "packages": package_versions(),
        "command": sys.argv,
        "log": out.with_suffix(".csv").name,
        **(label or {}),
    }
    save_checkpoint(out, weights, manifest)
    return manifest
