"""Two checkpoints of one codec on the val split, point by point, from real bytes: whether a
campaign run improved on the committed weights (lower R–D loss λ·(2^b−1)²·MSE + bpp at the same λ).

    python -m bench.train.compare OLD.safetensors NEW.safetensors --data colin27-aal
"""

from __future__ import annotations

import argparse


def val_points(path, dataset) -> list[dict]:
    """Per rate point: λ, val bpp from bytes, decoded PSNR and the real stream's R–D loss."""
    import torch

    from bench.checkpoints import load_checkpoint
    from bench.codecs.learned.models import build_model
    from bench.train.codec import load_weights, real_rate

    state, manifest = load_checkpoint(path, dataset.fingerprint)
    out = []
    val = dataset.split("val")
    with torch.no_grad():
        for j, point in enumerate(manifest["rate_points"]):
            model = build_model(manifest["arch"], manifest["N"], manifest["M"], manifest["channels"])
            prefix = f"p{j}."
            load_weights(model, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            out.append({"lambda": float(point["lambda"]), **real_rate(model, val, j, float(point["lambda"]))})
    return out


def main() -> None:
    from bench.datasets.spec import open_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--data", default="colin27-aal")
    args = parser.parse_args()
    dataset = open_dataset(args.data)
    old = {p["lambda"]: p for p in val_points(args.old, dataset)}
    print("| λ | old bpp / PSNR / R–D loss | new bpp / PSNR / R–D loss | change in R–D loss |")
    print("|---|---|---|---|")
    for p in val_points(args.new, dataset):
        o = old.get(p["lambda"])
        before = f"{o['val_bpp']:.4f} / {o['val_psnr_decoded']:.2f} dB / {o['val_loss_bytes']:.4f}" if o else "(new point)"
        change = f"{p['val_loss_bytes'] / o['val_loss_bytes'] - 1:+.1%}" if o else ""
        print(f"| {p['lambda']:g} | {before} | {p['val_bpp']:.4f} / {p['val_psnr_decoded']:.2f} dB / {p['val_loss_bytes']:.4f} | {change} |")


if __name__ == "__main__":
    main()
