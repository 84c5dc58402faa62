"""bf16 against fp32 training at equal steps and at equal wall-clock time, from the runs' own logs.

    python tests/benchmarks/parity.py results/training/parity     # -> parity.md and parity.png there

Reads `<precision>-s<seed>.csv` (the Trainer's per-step log) and `.json` (the manifest) of each
run: the val R–D loss (likelihood estimate, every `val_every` steps) at a common step, the best
val loss reached within a common wall-clock time, and, for the weights each run selected, the R–D
loss of the real stream (bytes and decoded pixels, `val_loss_bytes`).
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path


def runs(folder: Path) -> dict[str, dict]:
    out = {}
    for log in sorted(folder.glob("*-s*.csv")):
        m = re.fullmatch(r"(fp32|bf16)-s(\d+)", log.stem)
        if not m:
            continue
        rows = [r for r in csv.DictReader(log.open(newline="")) if r.get("val_loss")]
        manifest = json.loads(log.with_suffix(".json").read_text())
        out[log.stem] = {"precision": m[1], "seed": int(m[2]), "val": [(int(r["step"]), float(r["elapsed_s"]), float(r["val_loss"]),
                                                                        float(r["val_psnr"]), float(r["val_bpp_est"])) for r in rows],
                         "point": manifest["rate_points"][0], "train_seconds": manifest["train_seconds"]}
    return out


def at_step(run: dict, step: int) -> float:
    return next(v[2] for v in run["val"] if v[0] == step)


def best_by(run: dict, seconds: float) -> float:
    return min(v[2] for v in run["val"] if v[1] <= seconds)


def summary(folder: Path, step: int) -> str:
    data = runs(folder)
    common_s = min(r["val"][-1][1] for r in data.values())
    lines = [f"| run | steps done | s/step | val R–D loss at step {step} (estimate) | best val loss within {common_s:.0f} s (estimate) | "
             "selected: val bpp (bytes) | PSNR (decoded) | R–D loss (bytes) |", "|---|---|---|---|---|---|---|---|"]
    by_precision: dict[str, dict[str, list[float]]] = {}
    for name, r in data.items():
        p = r["point"]
        steps = int(p["steps"])
        lines.append(f"| {name} | {steps} | {r['train_seconds'] / max(steps, 1):.3f} | {at_step(r, step):.4f} | {best_by(r, common_s):.4f} | "
                     f"{p['val_bpp']:.4f} | {p['val_psnr_decoded']:.2f} dB | {p['val_loss_bytes']:.4f} |")
        agg = by_precision.setdefault(r["precision"], {"step": [], "time": [], "bytes": []})
        agg["step"].append(at_step(r, step))
        agg["time"].append(best_by(r, common_s))
        agg["bytes"].append(p["val_loss_bytes"])
    lines += ["", "| precision | at equal steps: mean (seed spread) | at equal time: mean (spread) | real stream, selected weights: mean (spread) |",
              "|---|---|---|---|"]
    for precision, agg in by_precision.items():
        cells = [f"{statistics.mean(v):.4f} ({max(v) - min(v):.4f})" for v in (agg["step"], agg["time"], agg["bytes"])]
        lines.append(f"| {precision} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = runs(folder)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colours = {"fp32": "#1f77b4", "bf16": "#d62728"}
    for name, r in data.items():
        style = "-" if r["seed"] == 0 else "--"
        steps, secs, loss = zip(*[(v[0], v[1], v[2]) for v in r["val"]])
        axes[0].plot(steps, loss, style, color=colours[r["precision"]], label=name)
        axes[1].plot([s / 60 for s in secs], loss, style, color=colours[r["precision"]], label=name)
    axes[0].set_xlabel("training step")
    axes[1].set_xlabel("wall-clock minutes (one core each, two runs side by side)")
    axes[0].set_ylabel("val R–D loss (λ·255²·MSE + bpp estimate)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    lo = min(v[2] for r in data.values() for v in r["val"])
    axes[0].set_ylim(lo * 0.98, lo * 1.35)
    fig.suptitle("mbt2018-mean, one λ from scratch: bf16 autocast (entropy models fp32) against fp32")
    fig.tight_layout()
    path = folder / "parity.png"
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    step = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    text = summary(folder, step)
    (folder / "parity.md").write_text(text + "\n")
    print(text)
    print(figure(folder))
