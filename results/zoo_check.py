"""Zoo-format weights on real data: do `bench`'s bytes equal CompressAI's own?

Makes CompressAI-format files (`mbt2018-mean-{q}-{sha}.pth.tar`, RGB, old key names) from the
shipped 1-channel mbt2018-mean: the first layer's kernel split equally over three input planes,
the last layer's copied to three outputs, so a gray image replicated into three planes meets the
same network. Then codes the colin27-aal test split two ways and compares every stream:
`bench run --codecs mbt2018-mean:weights=FOLDER` (the results folder's bytes) and CompressAI's
zoo path (`load_pretrained`, `from_state_dict`, `compress`) on the same files.

    python results/zoo_check.py --out /tmp/zoo-check [--points 0,4,8]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path


def export_zoo(checkpoint: Path, points: list[int], folder: Path) -> list[Path]:
    """One zoo-format file per rate point; quality = point index + 1."""
    import torch
    from compressai.models import MeanScaleHyperprior

    from bench.checkpoints import load_checkpoint_arrays

    state, manifest = load_checkpoint_arrays(checkpoint)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for point in points:
        prefix = f"p{point}."
        one = {k[len(prefix):]: torch.tensor(v) for k, v in state.items() if k.startswith(prefix)}
        one["g_a.0.weight"] = one["g_a.0.weight"].repeat(1, 3, 1, 1) / 3  # conv(1, N) -> conv(3, N)
        one["g_s.6.weight"] = one["g_s.6.weight"].repeat(1, 3, 1, 1)  # deconv(N, 1) -> deconv(N, 3)
        one["g_s.6.bias"] = one["g_s.6.bias"].repeat(3)
        model = MeanScaleHyperprior(manifest["N"], manifest["M"])
        model.load_state_dict(one, strict=False)  # the checkpoint stores no coder tables: computed next, as zoo files hold them
        model.update(force=True)
        old = {("module." + k).replace("entropy_bottleneck._matrix", "entropy_bottleneck._matrices.")
               .replace("entropy_bottleneck._bias", "entropy_bottleneck._biases.")
               .replace("entropy_bottleneck._factor", "entropy_bottleneck._factors."): v for k, v in model.state_dict().items()}
        tmp = folder / "tmp.pth.tar"
        torch.save(old, tmp)
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
        paths.append(tmp.rename(folder / f"mbt2018-mean-{point + 1}-{digest}.pth.tar"))
    return paths


def compressai_streams(paths: list[Path], images) -> dict:
    """{(rate point, image id): (y, z)} from CompressAI's own zoo loading and compress."""
    import torch
    from compressai.models import MeanScaleHyperprior
    from compressai.zoo.pretrained import load_pretrained

    from bench.codecs.learned.coding import to_tensor

    streams = {}
    torch.set_num_threads(1)
    for point, path in enumerate(paths):
        model = MeanScaleHyperprior.from_state_dict(load_pretrained(torch.load(path, weights_only=True))).eval()
        for image_id, image in images:
            with torch.no_grad():
                out = model.compress(to_tensor(image, 8).expand(-1, 3, -1, -1))
            streams[point, image_id] = (out["strings"][0][0], out["strings"][1][0])
    return streams


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", default="0,4,8", help="rate points of the shipped checkpoint to export")
    parser.add_argument("--checkpoint", type=Path, default=Path("codecs/weights/mbt2018-mean-colin27-aal.safetensors"))
    args = parser.parse_args()
    points = [int(p) for p in args.points.split(",")]
    zoo = export_zoo(args.checkpoint, points, args.out / "zoo")

    from bench import registry
    from bench.datasets.spec import open_dataset

    dataset = open_dataset("colin27-aal")
    images = [(s.id, s.image) for s in dataset.split("test")]
    expected = compressai_streams(zoo, images)
    codec = registry.get("codec", "mbt2018-mean")(weights=str(args.out / "zoo"))  # what `bench run` builds for the spec
    codec.for_dataset(dataset.name, dataset.fingerprint)
    same = sum(codec.encode(image, point)[18:] == b"".join(expected[point, image_id])
               for point in range(len(zoo)) for image_id, image in images)
    print(f"{same}/{len(expected)} streams: bench's bytes = its 18-byte header + CompressAI's own y and z strings, byte for byte")
    gray = registry.get("codec", "mbt2018-mean")()  # the same weights as 1-channel networks
    gray.for_dataset(dataset.name, dataset.fingerprint)
    for i, point in enumerate(points):
        three = sum(len(codec.encode(image, i)) for _, image in images)
        one = sum(len(gray.encode(image, point)) for _, image in images)
        print(f"rate point {point}: {three} bytes as 3 planes, {one} as 1 plane ({100 * (three / one - 1):+.2f}%)")
    subprocess.run(["bench", "run", "--codecs", f"mbt2018-mean:weights={args.out / 'zoo'}", "--data", "colin27-aal",
                    "--task", "none", "-j", "1", "--quiet", "--out", str(args.out / "run")], check=True)
    return 0 if same == len(expected) else 1


if __name__ == "__main__":
    sys.exit(main())
