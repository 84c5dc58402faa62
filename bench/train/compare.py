"""Two checkpoints of one codec on the val split, point by point, from real bytes: whether a
campaign run improved on the committed weights (lower R–D loss λ·(2^b−1)²·MSE + bpp at the same λ).

    python -m bench.train.compare OLD.safetensors NEW.safetensors --data colin27-aal
"""

from __future__ import annotations

import argparse


def val_points(path, dataset, lambdas=None) -> list[dict]:
    """Per rate point (or only those whose λ is in `lambdas`): λ, val bpp from bytes, decoded
    PSNR and the real stream's R–D loss."""
    import torch

    from bench.checkpoints import load_checkpoint
    from bench.codecs.learned.models import build_model
    from bench.train.codec import load_weights, real_rate

    state, manifest = load_checkpoint(path, dataset.fingerprint)
    out = []
    val = dataset.split("val")
    with torch.no_grad():
        for j, point in enumerate(manifest["rate_points"]):
            if lambdas is not None and not any(same_lambda(point["lambda"], lam) for lam in lambdas):
                continue
            model = build_model(manifest["arch"], manifest["N"], manifest["M"], manifest["channels"])
            prefix = f"p{j}."
            load_weights(model, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            out.append({"lambda": float(point["lambda"]), **real_rate(model, val, j, float(point["lambda"]))})
    return out


def same_lambda(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)))


def table(old: list[dict], new: list[dict]) -> str:
    """The Markdown comparison, one row per new point (a λ the old checkpoint lacks is a new point)."""
    rows = ["| λ | old bpp / PSNR / R–D loss | new bpp / PSNR / R–D loss | change in R–D loss |", "|---|---|---|---|"]
    for p in new:
        o = next((q for q in old if same_lambda(q["lambda"], p["lambda"])), None)
        before = f"{o['val_bpp']:.4f} / {o['val_psnr_decoded']:.2f} dB / {o['val_loss_bytes']:.4f}" if o else "(new point)"
        change = f"{p['val_loss_bytes'] / o['val_loss_bytes'] - 1:+.1%}" if o else ""
        rows.append(f"| {p['lambda']:g} | {before} | {p['val_bpp']:.4f} / {p['val_psnr_decoded']:.2f} dB / {p['val_loss_bytes']:.4f} | {change} |")
    return "\n".join(rows)


def main() -> None:
    from bench.datasets.spec import open_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--data", default="colin27-aal")
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    new = val_points(args.new, dataset)
    print(table(val_points(args.old, dataset, [p["lambda"] for p in new]), new))


if __name__ == "__main__":
    main()
