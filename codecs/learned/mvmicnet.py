"""MVMICNet: the task-driven codec (Yao, Gao, Chen, Lu, J. Northeastern Univ. 2026).

Backbone: CompressAI's mean-scale hyperprior (`mbt2018-mean`, Minnen et al. 2018) at the same
widths as the `mbt2018-mean` anchor. The paper does not publish its backbone; a mean-scale
hyperprior is the learned-compression literature's usual base and is the paper's first anchor,
so the same network trained two ways separates the effect of the training from that of the
architecture: any gain over `mbt2018-mean` comes from the task-aware stage, not a bigger model.
The backbone is a training option (`--set arch=cheng2020-anchor`); the checkpoint records it.

Stage 1 is rate–distortion only; stage 2 starts from it and adds the frozen task network's own
loss, balanced dynamically (`bench/train/balance.py`), for one task (`seg`, `det`) or both
(`seg+det`). Options pick the checkpoint: `mvmicnet:stage=1`, `mvmicnet:task=det`. A stage-2
checkpoint records the task network it was trained against (its checkpoint's SHA-256) and is
refused, with the retrain command, when the installed network differs. Bitstreams, header,
CPU decoding and bpp from bytes are the learned anchors' (`compressai_codec.py`).
"""

from __future__ import annotations

from bench.codecs.learned.compressai_codec import LearnedCodec
from bench.codecs.options import CodecOption
from bench.errors import BenchError

TASK_VARIANTS = ("seg", "det", "seg+det")


def variant_stem(stage: int, task: str, control: bool = False) -> str:
    """`mvmicnet-seg-<data>`; its same-budget control (stage 2 with the task term off) `mvmicnet-seg-control-<data>`."""
    if int(stage) == 1:
        return "mvmicnet-stage1"
    return f"mvmicnet-{task}" + ("-control" if control else "")


def find_stage1(dataset: str, anchor: str | None):
    """Stage 1's checkpoint: its own file where one was trained, else the anchor's (stage 1 is
    that anchor's recipe, so the project ships no 21 MB copy of it); None if neither exists.
    Shared by the codec (`mvmicnet:stage=1`) and by stage-2 training."""
    from bench.checkpoints import find_checkpoint

    found = find_checkpoint(variant_stem(1, ""), dataset, packaged="codecs")
    if found is None and anchor:
        found = find_checkpoint(anchor, dataset, packaged="codecs")
    return found


class MVMICNet(LearnedCodec):
    """Task-driven learned codec, trained in two stages against the frozen task networks."""

    name = "mvmicnet"
    architecture = "mbt2018-mean"
    trainer = "bench.train.mvmicnet"  # stage 1 (the anchor's recipe), then stage 2
    takes_zoo_weights = False  # no pretrained MVMICNet exists outside this project
    options = (
        CodecOption("stage", int, 2, "1: rate–distortion only; 2: fine-tuned with the task loss", choices=(1, 2)),
        CodecOption("task", str, "seg", "the task(s) stage 2 was trained for", choices=TASK_VARIANTS),
        CodecOption("control", int, 0, "1: the variant's same-budget control (stage 2 with the task term off)", choices=(0, 1)),
        *LearnedCodec.options,
    )

    @classmethod
    def check_train_request(cls, request) -> None:
        if request.stage not in (None, 1, 2):
            raise BenchError(f"--stage must be 1 or 2, got {request.stage}")

    @classmethod
    def checkpoint_stem(cls, settings: dict | None = None) -> str:
        settings = settings or {"stage": 2, "task": "seg"}
        return variant_stem(settings["stage"], settings["task"], bool(settings.get("control")))

    @classmethod
    def train_command(cls, dataset: str, settings: dict | None = None) -> str:
        settings = settings or {"stage": 2, "task": "seg"}
        tasks = settings["task"].replace("+", ",")
        control = " --set task_weight=0" if settings.get("control") else ""
        return f"bench train-codec mvmicnet --task {tasks} --data {dataset}" + (" --stage 1" if int(settings["stage"]) == 1 else control)

    @classmethod
    def find_weights(cls, dataset: str, settings: dict):
        """Stage 2: the variant's file. Stage 1: see `find_stage1`; the rows name the file used."""
        if int(settings["stage"]) == 1:
            return find_stage1(dataset, cls.architecture)
        return super().find_weights(dataset, settings)

    def check_manifest(self, path, manifest: dict, dataset: str) -> None:
        """Same backbone family; for stage 2, the very task networks installed now."""
        from bench.checkpoints import file_sha256, find_checkpoint

        if int(self.settings["stage"]) == 1 and manifest.get("codec") is None and manifest.get("arch") == self.architecture:
            return  # the anchor's own checkpoint, used as stage 1 (find_weights)
        if manifest.get("codec") != "mvmicnet":
            raise BenchError(f"codec 'mvmicnet': {path} is not an MVMICNet checkpoint (it holds {manifest.get('codec') or manifest.get('arch')})")
        if int(self.settings["stage"]) == 2 and bool(manifest.get("control", False)) != bool(self.settings["control"]):
            which = "its task-term-off control" if manifest.get("control") else "a task-trained variant"
            raise BenchError(f"codec 'mvmicnet': {path} holds {which}, but control={self.settings['control']} was asked for")
        for task, trained in (manifest.get("task_networks") or {}).items():
            installed = find_checkpoint(task, dataset, packaged="tasks")
            if installed is None or file_sha256(installed) != trained["sha256"]:
                now = "none installed" if installed is None else f"{installed.name} differs"
                raise BenchError(f"codec 'mvmicnet': {path.name} was trained against the {task} network {trained['checkpoint']} "
                                 f"(sha256 {trained['sha256'][:12]}), {now}; retrain with `{self.train_command(dataset, self.settings)}`")
