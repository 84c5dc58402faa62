"""`bench train-codec mvmicnet --task seg --data DATASET`: MVMICNet's two training stages.

Options: `--set KEY=VALUE` sets stage 2 (`STAGE2_DEFAULTS`); `--set stage1.KEY=VALUE` sets a
stage 1 trained here (the anchors' options, `bench/train/codec.py`, plus `stage1.arch`).

Stage 1 (rate–distortion only) is exactly the `mbt2018-mean` anchor's recipe: same backbone,
widths, λ ladder, loss, data and selection. When that anchor's checkpoint for the dataset exists,
stage 1 *is* it (copied, with its provenance in the manifest) instead of training the same
network twice; otherwise stage 1 trains with `bench/train/codec.py`.

Stage 2 starts every rate point from its stage-1 weights and minimises
    R + λ·(2^b−1)²·MSE + Σ_k α_k(t)·L_k(decoded)
where L_k is task k's own differentiable loss (`Task.loss`) of its frozen network on the
decoded image (clamped to [0, 1], as decoding does), over whole train-split slices with their
labels, and α_k(t) is balanced dynamically (`balance.py`: loss-ratio normalisation × Dynamic
Weight Averaging); α, every loss term and the val figures are logged at every step. Weights are
selected on val by a fixed objective: the same sum with α frozen at the values calibrated on val
before the first step, so the selection does not move with the balance. The test split is never
read. Resumable like the anchors: the full state every `checkpoint_every_s` seconds.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.train.codec import CompressionRecipe
from bench.train.trainer import LOOP_DEFAULTS, Trainer, lineage_steps

STAGE2_DEFAULTS: dict[str, Any] = {
    **LOOP_DEFAULTS,
    "steps": 1500,  # per rate point
    "batch_size": 4,  # whole slices
    "lr": 1e-4,
    "lr_final": 1e-5,
    "aux_lr": 1e-3,
    "warmup_steps": 50,
    "task_weight": 1.0,  # β: each task term's size relative to λ·D
    "dwa_temperature": 2.0,
    "dwa_window": 50,
    "val_every": 100,
    "stage1_from": "mbt2018-mean",  # reuse this anchor's checkpoint as stage 1 when it exists ("" = train stage 1)
    "stage1_checkpoint": None,  # an explicit stage-1 file trained on other data (`explicit_stage1`); None = the dataset's own
    "points": None,  # stage-1 rate points to fine-tune (indices, lowest rate 0); None = all
}


def stage2_options(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(STAGE2_DEFAULTS))
    if unknown:
        raise BenchError(f"train-codec mvmicnet: unknown stage-2 option {unknown[0]!r}; known: {', '.join(STAGE2_DEFAULTS)}")
    return {**STAGE2_DEFAULTS, **overrides}


def stage1(dataset, out_dir: Path, overrides: dict[str, Any], seed: int, device: str, resume: bool, show_progress: bool) -> Path:
    """The stage-1 checkpoint: the anchor's, copied with provenance, or trained here."""
    from bench.checkpoints import find_checkpoint, load_checkpoint, save_checkpoint, weights_id
    from bench.codecs.learned.mvmicnet import variant_stem
    from bench.train.codec import train_codec

    target = Path(out_dir) / f"{variant_stem(1, '')}-{dataset.name}.safetensors"
    rd = {k[len("stage1."):]: v for k, v in overrides.items() if k.startswith("stage1.")}
    anchor = overrides.get("stage1_from", STAGE2_DEFAULTS["stage1_from"])
    source = find_checkpoint(anchor, dataset.name, packaged="codecs") if anchor else None
    if source is not None and not rd:
        state, manifest = load_checkpoint(source, dataset.fingerprint)
        manifest = {**manifest, "codec": "mvmicnet", "stage": 1, "stage1_from": {
            "checkpoint": source.name, "weights_id": weights_id(state, manifest["arch"]),
            "why": "stage 1 is the anchor's recipe (same backbone, widths, λ ladder, loss, data): reused, not retrained"}}
        save_checkpoint(target, state, manifest)
        for suffix in (".csv",):
            if source.with_suffix(suffix).is_file():
                shutil.copyfile(source.with_suffix(suffix), target.with_suffix(suffix))
        return target
    arch = rd.pop("arch", "mbt2018-mean")
    train_codec(arch, dataset, target, rd, seed=seed, device=device, resume=resume, show_progress=show_progress,
                label={"codec": "mvmicnet", "stage": 1})
    return target


def explicit_stage1(dataset, opts: dict[str, Any]) -> Path | None:
    """`--set stage1_checkpoint=FILE`: stage 1 from a checkpoint trained on *other* data, checked for
    shape and never for its dataset, as `weights=` is in `bench run`. Why: colin27-lesions is the
    colin27-aal slices with lesions inserted, so the colin27-aal anchor is a fair stage 1 for it and
    the campaign's compute goes to stage 2; the manifest records what stage 1 was trained on."""
    from bench.checkpoints import read_manifest

    if not opts.get("stage1_checkpoint"):
        return None
    path = Path(str(opts["stage1_checkpoint"]))
    if not path.is_file():
        raise BenchError(f"train-codec mvmicnet: --set stage1_checkpoint={path}: no such file")
    manifest = read_manifest(path)
    if manifest.get("kind") != "codec" or manifest.get("arch") != "mbt2018-mean":
        raise BenchError(f"train-codec mvmicnet: --set stage1_checkpoint={path}: not an mbt2018-mean codec checkpoint "
                         f"(arch {manifest.get('arch')!r}); MVMICNet's backbone is mbt2018-mean")
    sample = dataset.split("train")[0]
    channels = 1 if sample.image.ndim == 2 else sample.image.shape[2]
    if manifest.get("channels") != channels or manifest.get("trained_bit_depth") != sample.bit_depth:
        raise BenchError(f"train-codec mvmicnet: --set stage1_checkpoint={path}: trained on {manifest.get('channels')}-channel "
                         f"{manifest.get('trained_bit_depth')}-bit images, '{dataset.name}' has {channels}-channel {sample.bit_depth}-bit")
    return path


def _task_networks(dataset, names: list[str], device: str):
    """The frozen task networks, and what the checkpoint records of each."""
    from bench import registry
    from bench.checkpoints import file_sha256, find_checkpoint

    tasks, records = {}, {}
    for name in names:
        cls = registry.get("task", name)
        why_not = cls.supports(dataset)
        if why_not:
            raise BenchError(f"train-codec mvmicnet --task {name}: {why_not}")
        task = cls(dataset, device=device)
        for p in task.model.parameters():
            p.requires_grad_(False)
        path = find_checkpoint(name, dataset.name, packaged="tasks")
        tasks[name] = task
        records[name] = {"checkpoint": path.name if path else None, "sha256": file_sha256(path) if path else None,
                         "model_id": task.model_id()}
    return tasks, records


def _batch(samples, idx, device):
    import torch

    from bench.codecs.learned.coding import to_tensor

    x = torch.cat([to_tensor(samples[i].image, samples[i].bit_depth) for i in idx]).to(device)
    return x, [samples[i] for i in idx]


def _terms(model, tasks, x, targets, shape, peak, lam):
    """(bpp estimate, λ·D term, mse, {task: loss}) of one batch; decoded pixels clamped as decoding does."""
    import torch

    from bench.codecs.learned.coding import likelihood_bits

    out = model(x)
    h, w = shape
    x_hat = out["x_hat"][..., :h, :w].float().clamp(0, 1)
    mse = torch.mean((x_hat - x[..., :h, :w].float()) ** 2)
    bpp = likelihood_bits({k: v.float() for k, v in out["likelihoods"].items()}) / (x.shape[0] * h * w)
    losses = {name: task.loss(x_hat, targets) for name, task in tasks.items()}
    return bpp, lam * peak**2 * mse, mse, losses


def _validate(model, tasks, val_set, peak, lam, alphas, device) -> dict[str, float]:
    import torch

    model.eval()
    rows = []
    with torch.no_grad():
        for i in range(len(val_set)):
            x, targets = _batch(val_set, [i], device)
            bpp, dist, mse, losses = _terms(model, tasks, x, targets, val_set[i].image.shape[:2], peak, lam)
            rows.append((float(bpp), float(dist), float(mse), {k: float(v) for k, v in losses.items()}))
    model.train()
    bpp, dist = float(np.mean([r[0] for r in rows])), float(np.mean([r[1] for r in rows]))
    task = {k: float(np.mean([r[3][k] for r in rows])) for k in tasks}
    psnr = float(np.mean([10 * math.log10(1 / max(r[2], 1e-12)) for r in rows]))
    objective = bpp + dist + sum(alphas[k] * task[k] for k in tasks) if alphas else math.nan
    return {"val_loss": objective, "val_psnr": psnr, "val_bpp_est": bpp, "val_dist": dist, **{f"val_{k}": v for k, v in task.items()}}


class Stage2Recipe(CompressionRecipe):
    """Stage 2: each chosen stage-1 point fine-tuned on whole train slices against R + λD + Σ α_k L_k."""

    def __init__(self, dataset, task_names: list[str], opts: dict[str, Any], stage1_state: dict, manifest1: dict,
                 chosen: list[int], tasks: dict, task_records: dict, stage1_label) -> None:
        self.dataset, self.task_names, self.opts = dataset, task_names, opts
        self.state1, self.manifest1, self.chosen, self.tasks, self.task_records = stage1_state, manifest1, chosen, tasks, task_records
        self.variant = "+".join(task_names)
        self.name = f"mvmicnet {self.variant} stage 2"
        self.stage1_label = stage1_label
        self.train_set, self.val_set = dataset.split("train"), dataset.split("val")
        self.peak = float((1 << manifest1["trained_bit_depth"]) - 1)
        self.shape = self.train_set[0].image.shape[:2]
        self.rate_points = [manifest1["rate_points"][i] for i in chosen]
        self.with_task = float(opts["task_weight"]) > 0  # task_weight=0: the control run (same steps, R + λD only)
        self.log_fields = (["lambda", "loss", "bpp_est", "mse", "dist", "aux"] + [f"{p}_{k}" for k in task_names for p in ("task", "alpha")]
                           + ["val_loss", "val_psnr", "val_bpp_est", "val_dist"] + [f"val_{k}" for k in task_names])
        self.alphas0: dict | None = None
        self.balance_state: dict | None = None

    def config(self) -> dict:
        return {"variant": self.variant, "opts": {k: v for k, v in self.opts.items() if k != "time_budget_s"}, "fingerprint": self.dataset.fingerprint,
                "stage1": self.stage1_label, "task_networks": self.task_records}

    def state(self) -> dict:
        return {"alphas0": self.alphas0, "balance": self.balance_state}

    def load_state(self, state: dict) -> None:
        self.alphas0, self.balance_state = state["alphas0"], state["balance"]

    def build(self, device: str):
        from bench.codecs.learned.models import build_model

        m = self.manifest1
        return build_model(m["arch"], m["N"], m["M"], m["channels"]).to(device)

    def points(self) -> list[dict]:
        return [{"label": f"λ={float(p['lambda']):g}", "steps": int(self.opts["steps"])} for p in self.rate_points]

    def _balance(self):
        from bench.train.balance import TaskBalance

        return TaskBalance(self.task_names, float(self.opts["task_weight"]), float(self.opts["dwa_temperature"]), int(self.opts["dwa_window"]),
                           state=self.balance_state)

    def begin_point(self, i: int, model, done: list[dict]) -> None:
        """Start from stage 1's weights (or --init's point of the same λ); calibrate the fixed val weights."""
        from bench.train.codec import load_weights

        lam = float(self.rate_points[i]["lambda"])
        if self.init is not None:
            load_weights(model, self.init.point(self._init_point(i)))
        else:
            prefix = f"p{self.chosen[i]}."
            load_weights(model, {k[len(prefix):]: v for k, v in self.state1.items() if k.startswith(prefix)})
        self.balance_state = None
        balance = self._balance()
        first = _validate(model, self.tasks, self.val_set, self.peak, lam, None, _device(model))
        self.alphas0 = {k: float(self.opts["task_weight"]) * first["val_dist"] / max(first[f"val_{k}"], 1e-12) for k in self.task_names}
        balance.update(first["val_dist"], {k: first[f"val_{k}"] for k in self.task_names})  # start α at the val ratio, not at 1
        self.balance_state = balance.state

    def training_step(self, i: int, model, rng):
        from bench.train.precision import as_input

        lam = float(self.rate_points[i]["lambda"])
        idx = rng.choice(len(self.train_set), size=min(int(self.opts["batch_size"]), len(self.train_set)), replace=False)
        x, targets = _batch(self.train_set, idx, _device(model))
        x = as_input(x, model)
        alphas = self._balance().weights()
        bpp, dist, mse, losses = _terms(model, self.tasks if self.with_task else {}, x, targets, self.shape, self.peak, lam)
        loss = bpp + dist + sum(alphas[n] * losses[n] for n in losses)
        self._losses = (float(dist.detach()), {n: float(v.detach()) for n, v in losses.items()})
        return loss, {"lambda": lam, "loss": f"{float(loss.detach()):.5f}", "bpp_est": f"{float(bpp.detach()):.5f}",
                      "mse": f"{float(mse.detach()):.6g}", "dist": f"{float(dist.detach()):.5f}",
                      **{f"task_{n}": f"{float(v.detach()):.5f}" for n, v in losses.items()},
                      **{f"alpha_{n}": f"{a:.5g}" for n, a in alphas.items()}}

    def after_step(self, i: int, row: dict) -> None:
        if self.with_task:
            balance = self._balance()
            balance.update(*self._losses)
            self.balance_state = balance.state

    def validate(self, i: int, model) -> dict[str, float]:
        return _validate(model, self.tasks, self.val_set, self.peak, float(self.rate_points[i]["lambda"]), self.alphas0, _device(model))

    def finish_point(self, i: int, model, best: dict, steps: int) -> dict:
        from bench.train.codec import real_rate

        measured = real_rate(model, self.val_set, i)
        return {**{n: v for n, v in self.rate_points[i].items() if not n.startswith("val_")}, "stage2_steps": steps,
                "stage2_total_steps": lineage_steps(self.init, self._init_point(i), steps, key="stage2_total_steps", first="stage2_steps"),
                "stage1_point": self.chosen[i], "alphas_val": self.alphas0,
                **{n: v for n, v in best.items() if n.startswith("val_")}, **measured}

    def _init_point(self, i: int) -> int | None:
        """The --init point point i starts from (None from stage 1): its stage-2 steps count toward the
        campaign's per-point budget (>= 10,000 stage-2 steps) across sessions."""
        from bench.train.codec import nearest_point

        return None if self.init is None else nearest_point(self.init.manifest, float(self.rate_points[i]["lambda"]))


def _device(model):
    return next(model.parameters()).device


def chosen_points(opts: dict[str, Any], n_points: int) -> list[int]:
    """The stage-1 rate points stage 2 fine-tunes (`--set points=`, default all), checked against stage 1's."""
    chosen = list(range(n_points)) if opts["points"] is None else [int(i) for i in opts["points"]]
    if not chosen or any(i < 0 or i >= n_points for i in chosen):
        raise BenchError(f"train-codec mvmicnet: --set points={opts['points']}: stage 1 has rate points 0-{n_points - 1}")
    return chosen


def _stage2_setup(dataset, task_names: list[str], opts: dict[str, Any], stage1_path: Path, device: str):
    """(recipe, stage-1 path) for stage 2 of `task_names` on `dataset`, from the stage-1 checkpoint."""
    from bench.checkpoints import load_checkpoint

    explicit = explicit_stage1(dataset, opts) is not None
    state1, manifest1 = load_checkpoint(stage1_path, None if explicit else dataset.fingerprint)
    tasks, task_records = _task_networks(dataset, task_names, device)
    train_set, val_set = dataset.split("train"), dataset.split("val")
    shape = train_set[0].image.shape[:2]
    if any(s.image.shape[:2] != shape for s in train_set + val_set):
        raise BenchError(f"train-codec mvmicnet: stage 2 trains on whole slices and needs one image size; '{dataset.name}' mixes sizes")
    chosen = chosen_points(opts, len(manifest1["rate_points"]))
    label = manifest1.get("stage1_from") or stage1_path.name
    if explicit:
        from bench.checkpoints import file_sha256

        label = {"checkpoint": stage1_path.name, "sha256": file_sha256(stage1_path), "trained_on": manifest1.get("dataset"),
                 "trained_on_fingerprint": manifest1.get("dataset_fingerprint"), "why": "--set stage1_checkpoint (explicit_stage1)"}
    return Stage2Recipe(dataset, task_names, opts, state1, manifest1, chosen, tasks, task_records, label)


def stage2_recipe_for(dataset, task_names: list[str], overrides: dict[str, Any], device: str) -> Stage2Recipe:
    """The stage-2 recipe from the dataset's stage-1 checkpoint (the training benchmark's entry)."""
    from bench.codecs.learned.mvmicnet import find_stage1

    opts = stage2_options(overrides)
    found = explicit_stage1(dataset, opts) or find_stage1(dataset.name, opts["stage1_from"])
    if found is None:
        raise BenchError(f"no MVMICNet stage-1 checkpoint for '{dataset.name}'; run `bench train-codec mvmicnet --stage 1 --data {dataset.name}`")
    return _stage2_setup(dataset, task_names, opts, found, device)


def train_mvmicnet(dataset, task_names: list[str], out_dir: Path, overrides: dict[str, Any] | None = None, seed: int = 0,
                   device: str = "cpu", resume: bool = False, show_progress: bool = True, stages: tuple[int, ...] = (1, 2),
                   init: Path | None = None, jobs: int = 1, stage1_path: Path | None = None) -> dict:
    """Both stages for `task_names` (one task, or several for the joint variant); returns the stage-2 manifest.
    `init`: a stage-2 checkpoint to continue (each point from its λ's weights there). `jobs` > 1:
    stage 2's rate points side by side in one-thread processes (`parallel.train_stage2_parallel`).
    `stage1_path`: stage 2 from this stage-1 checkpoint (how those processes are told)."""
    from bench.checkpoints import load_checkpoint, save_checkpoint
    from bench.codecs.learned.mvmicnet import TASK_VARIANTS, find_stage1, variant_stem
    from bench.manifest import package_versions

    from bench import registry

    for name in task_names:
        if getattr(registry.get("task", name), "holdout", False):
            raise BenchError(f"--task {name}: a held-out evaluator is never used to train a codec (that is what keeps it independent)")
    overrides = dict(overrides or {})
    variant = "+".join(task_names)
    if variant not in TASK_VARIANTS:
        raise BenchError(f"--task {','.join(task_names)}: MVMICNet trains for one of {', '.join(TASK_VARIANTS)} (comma-separated)")
    out_dir = Path(out_dir)
    explicit = explicit_stage1(dataset, overrides)
    stage1_path = stage1_path or explicit or out_dir / f"{variant_stem(1, '')}-{dataset.name}.safetensors"
    if explicit is not None and 2 not in stages:
        raise BenchError("train-codec mvmicnet: --set stage1_checkpoint= is stage 1 already; run stage 2 (--stage 2 or both)")
    if 1 in stages and explicit is None:
        stage1_path = stage1(dataset, out_dir, overrides, seed, device, resume, show_progress)
    elif not stage1_path.is_file():
        found = find_stage1(dataset.name, overrides.get("stage1_from", STAGE2_DEFAULTS["stage1_from"]))
        if found is None:
            raise BenchError(f"no MVMICNet stage-1 checkpoint for '{dataset.name}'; run `bench train-codec mvmicnet --stage 1 --data {dataset.name}`")
        stage1_path = found
    if 2 not in stages:
        return load_checkpoint(stage1_path)[1]
    stage2_overrides = {k: v for k, v in overrides.items() if not k.startswith("stage1.")}
    opts = stage2_options(stage2_overrides)
    control = float(opts["task_weight"]) == 0  # the same-budget control: saved beside the variant, `mvmicnet:control=1`
    out = out_dir / f"{variant_stem(2, variant, control)}-{dataset.name}.safetensors"
    trained_on = None if explicit is not None else dataset.fingerprint
    chosen = chosen_points(opts, len(load_checkpoint(stage1_path, trained_on)[1]["rate_points"])) if jobs > 1 else []
    if len(chosen) > 1:  # the points side by side, one process each share
        from bench.train.parallel import train_stage2_parallel

        return train_stage2_parallel(train_mvmicnet, dataset, task_names, out, stage2_overrides, opts, chosen, stage1_path, seed=seed,
                                     device=device, resume=resume, show_progress=show_progress, init=init, jobs=jobs)
    recipe = _stage2_setup(dataset, task_names, opts, stage1_path, device)
    records, facts = Trainer(recipe, out, seed=seed, device=device, resume=resume, init=init, fingerprint=dataset.fingerprint,
                             show_progress=show_progress).run()
    manifest1 = recipe.manifest1
    weights = {f"p{j}.{n}": v for j, p in enumerate(records) for n, v in p["weights"].items()}
    manifest = {
        "kind": "codec", "codec": "mvmicnet", "stage": 2, "tasks": task_names, "control": control, "arch": manifest1["arch"],
        "dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint, "channels": manifest1["channels"],
        "trained_bit_depth": manifest1["trained_bit_depth"], "N": manifest1["N"], "M": manifest1["M"],
        "rate_points": [{n: v for n, v in p.items() if n != "weights"} for p in records],
        "task_networks": recipe.task_records,
        "stage1": ({"checkpoint": stage1_path.name, **({"from": manifest1["stage1_from"]} if manifest1.get("stage1_from") else {})}
                   if explicit is None else recipe.stage1_label),
        "balance": "loss-ratio normalisation x Dynamic Weight Averaging (Liu et al. CVPR 2019), bench/train/balance.py",
        "config": opts, "seed": seed, "device": device, **facts,
        "split_sizes": {"train": len(recipe.train_set), "val": len(recipe.val_set)}, "packages": package_versions(), "command": sys.argv,
        "log": out.with_suffix(".csv").name,
    }
    save_checkpoint(out, weights, manifest)
    return manifest


def train(codec_cls, request):
    """How `bench train-codec mvmicnet` trains (the codec names this module as its `trainer`): (manifest, folder)."""
    target = request.out or request.default_out.parent
    manifest = train_mvmicnet(request.dataset, request.tasks or ["seg"], target, request.settings, seed=request.seed,
                              device=request.device, resume=request.resume, show_progress=request.show_progress,
                              stages=(request.stage,) if request.stage else (1, 2), init=request.init, jobs=request.jobs)
    return manifest, target


def stage2_factory(dataset, tasks: list[str], overrides: dict[str, Any], device: str, loop: dict[str, Any]):
    return stage2_recipe_for(dataset, tasks, {**overrides, **loop}, device)


def benchmark_recipe(codec_cls, request):
    import functools

    tasks = request.tasks or ["seg"]
    factory = functools.partial(stage2_factory, request.dataset, tasks, dict(request.settings), request.device)
    return factory, f"mvmicnet stage 2 ({'+'.join(tasks)})", 1
