"""Merge a campaign run into the committed checkpoint, rate point by rate point: a session may
train only part of the λ ladder (the high-rate end, say), and a point it trained may still lose on
val to the committed one. The merged checkpoint holds, for every λ of either, the weights with the
lower val R–D loss from real bytes (`compare.val_points`), and records in `kept_points` which
points are the committed ones and why.

    python -m bench.train.merge OLD.safetensors NEW.safetensors --out MERGED.safetensors --data colin27-aal
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.train.compare import same_lambda, table, val_points

SHAPE_KEYS = ("arch", "N", "M", "channels", "dataset_fingerprint")


def matched(old_vals: list[dict], new_vals: list[dict]) -> list[tuple[dict | None, dict]]:
    """(old val point or None, new val point) for every λ the new run trained."""
    return [(next((o for o in old_vals if same_lambda(o["lambda"], p["lambda"])), None), p) for p in new_vals]


def new_wins(old_val: dict | None, new_val: dict) -> bool:
    """The one merge rule: the new point where the old checkpoint lacks its λ or scores a higher val loss."""
    return old_val is None or new_val["val_loss_bytes"] < old_val["val_loss_bytes"]


def choose(pairs: list[tuple[dict | None, dict]], old_lambdas: list[float]) -> list[tuple[float, str]]:
    """(λ, 'old' | 'new') for every λ of either ladder, in ascending λ (`new_wins` decides each trained λ)."""
    picks = {float(lam): "old" for lam in old_lambdas}
    for o, p in pairs:
        known = next((lam for lam in picks if same_lambda(lam, p["lambda"])), float(p["lambda"]))
        picks[known] = "new" if new_wins(o, p) else "old"
    return sorted(picks.items())


def point_index(manifest: dict, lam: float) -> int:
    return next(j for j, p in enumerate(manifest["rate_points"]) if same_lambda(p["lambda"], lam))


def assemble(picks, old: tuple[dict, dict], new: tuple[dict, dict], measured: dict[str, list[dict]]):
    """The merged state dict (`p{i}.` prefixes renumbered) and rate points, and the indices kept from old."""
    state, points, kept = {}, [], []
    for i, (lam, source) in enumerate(picks):
        src_state, src_manifest = old if source == "old" else new
        j = point_index(src_manifest, lam)
        state.update({f"p{i}." + k[len(f"p{j}."):]: v for k, v in src_state.items() if k.startswith(f"p{j}.")})
        val = next((v for v in measured[source] if same_lambda(v["lambda"], lam)), {})
        points.append({**src_manifest["rate_points"][j], **{k: v for k, v in val.items() if k != "lambda"}})
        if source == "old":
            kept.append(i)
    return state, points, kept


def merged_manifest(new_manifest: dict, points: list[dict], kept: list[int], old_path: Path, why: str) -> dict:
    from bench.checkpoints import file_sha256

    manifest = {k: v for k, v in new_manifest.items() if k != "kept_points"}
    manifest["rate_points"] = points
    manifest["merge"] = {"command": ["python", "-m", "bench.train.merge", *sys.argv[1:]]}
    if kept:
        manifest["kept_points"] = {"points": kept, "from": {"checkpoint": old_path.name, "sha256": file_sha256(old_path)}, "why": why}
    return manifest


def merge(old_path: Path, new_path: Path, out: Path, dataset) -> str:
    """Write the merged checkpoint (and the new run's log beside it); return the comparison table."""
    from bench.checkpoints import load_checkpoint, save_checkpoint

    old, new = load_checkpoint(old_path, dataset.fingerprint), load_checkpoint(new_path, dataset.fingerprint)
    for key in SHAPE_KEYS:
        if old[1].get(key) != new[1].get(key):
            raise BenchError(f"merge: {old_path} has {key}={old[1].get(key)}, {new_path} has {key}={new[1].get(key)}")
    new_vals = val_points(new_path, dataset)
    old_vals = val_points(old_path, dataset, [p["lambda"] for p in new_vals])
    pairs = matched(old_vals, new_vals)
    picks = choose(pairs, [p["lambda"] for p in old[1]["rate_points"]])
    state, points, kept = assemble(picks, old, new, {"old": old_vals, "new": new_vals})
    lost = [f"{p['val_loss_bytes'] / o['val_loss_bytes'] - 1:+.1%} at λ {p['lambda']:g}" for o, p in pairs if not new_wins(o, p)]
    why = f"the new run's weights were not better on val at these points (R–D loss from real bytes {', '.join(lost)}); the committed ones are kept"
    save_checkpoint(out, state, merged_manifest(new[1], points, kept, Path(old_path), why))
    log = Path(new_path).with_suffix(".csv")
    if log.exists() and log.resolve() != Path(out).with_suffix(".csv").resolve():
        shutil.copyfile(log, Path(out).with_suffix(".csv"))
    sources = ", ".join(f"λ {lam:g}: {source}" for lam, source in picks)
    return table(old_vals, new_vals) + f"\n\nMerged ({len(points)} points): {sources}"


def main() -> None:
    from bench.datasets.spec import open_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="colin27-aal")
    args = parser.parse_args()
    try:
        print(merge(Path(args.old), Path(args.new), Path(args.out), open_dataset(args.data)))
    except BenchError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
