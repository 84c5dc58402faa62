"""Re-choose a trained segmentation network's inference setting (flip TTA, small-class removal)
under the current rule (`choose_inference`), without retraining: when the rule changes, the
shipped network follows it and says so. The weights stay as they are; the manifest's
`inference`, its val table and its val/test figures are rewritten, and `reselected` records the
previous setting, its figures and this command.

    python -m bench.train.reselect tasks/weights/seg-colin27-lesions.safetensors --data colin27-lesions [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def reselect(path: Path, dataset, out: Path | None = None) -> dict:
    """Write the checkpoint with its inference re-chosen on val (to `out`, default in place); return its manifest."""
    from bench.checkpoints import load_checkpoint, save_checkpoint
    from bench.tasks.seg.task import SegmentationTask
    from bench.tasks.seg.train import choose_inference, score, split_metrics

    state, manifest = load_checkpoint(path, dataset.fingerprint)
    if manifest.get("task") not in ("seg", "seg-holdout"):
        raise BenchError(f"reselect: {path} is not a segmentation checkpoint (task {manifest.get('task')!r})")
    task = SegmentationTask(dataset, checkpoint=str(path))
    val_set, test_set = dataset.split("val"), dataset.split("test")
    inference, table = choose_inference(task.model, val_set, task.class_names, task.channels, "cpu")
    metrics = dict(manifest.get("metrics") or {})
    hd95 = "hd95" in (metrics.get("val") or {})
    lesions = (dataset.extra or {}).get("lesions")

    def figures(samples):
        return split_metrics(score(task.model, samples, task.class_names, task.channels, "cpu", hd95=hd95, inference=inference, lesions=lesions))

    previous = {"inference": manifest.get("inference"), "val": metrics.get("val"), "test": metrics.get("test"),
                "inference_choice": metrics.get("inference_choice")}
    metrics.update(val=figures(val_set), inference_choice=table, **({"test": figures(test_set)} if test_set and "test" in metrics else {}))
    manifest = {**manifest, "inference": inference, "metrics": metrics,
                "reselected": {"command": ["python", "-m", "bench.train.reselect", *sys.argv[1:]], "previous": previous,
                               "why": "the inference rule changed (bench.tasks.seg.train.choose_inference)"}}
    save_checkpoint(Path(out or path), state, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    from bench.datasets.spec import open_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", required=True, help="the dataset it was trained on (its val split chooses)")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of over the checkpoint")
    args = parser.parse_args(argv)
    try:
        if not args.checkpoint.is_file():
            raise BenchError(f"reselect: no checkpoint at {args.checkpoint}")
        manifest = reselect(args.checkpoint, open_dataset(args.data), args.out)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    old, new = manifest["reselected"]["previous"], manifest["metrics"]
    print(f"inference {old['inference']} -> {manifest['inference']}")
    for split in ("val", "test"):
        if (old.get(split) or {}) and split in new:
            keys = [k for k in ("seg_sensitivity", "seg_sensitivity_fp05", "lesion_dice", "dice") if k in new[split]]
            print(f"{split}: " + ", ".join(f"{k} {old[split].get(k)} -> {new[split][k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
