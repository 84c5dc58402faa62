"""CompressAI's pretrained ("zoo") checkpoints, as a user brings them: `NAME:weights=PATH`.

CompressAI publishes one file per quality, `{arch}-{quality}-{sha256 prefix}.pth.tar`: a plain
state dict listed in `compressai.zoo.image.model_urls`. PATH is such a file, a folder of them, or
several joined with `+`; the rate points are the files ordered by quality. Loading does what
CompressAI's zoo does: `load_pretrained` renames old keys (`module.`, `_matrices.N`,
`downsample`), the class's `from_state_dict` infers N and M from the weights, and its
`load_state_dict` resizes the CDF buffers to the stored tables, which the coder then uses as
stored (the zoo does not call `update`). Files are read with `torch.load(weights_only=True)`, so
no pickled code runs, and a name's hash prefix is checked against the file, as torch.hub does.

`weights=zoo` takes CompressAI's own MSE files from torch.hub's checkpoint folder, where
CompressAI puts what it downloads. A missing file is fetched only when the user asked for it
(`bench run --allow-download`, or BENCH_ALLOW_DOWNLOAD=1); otherwise, and when offline, the
run stops with a one-line error. These weights were not trained here, so no dataset
fingerprint applies; the manifest records every file's SHA-256 instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

SUFFIXES = (".pth.tar", ".pth")
SOURCE = "compressai-zoo"
DOWNLOAD_ENV = "BENCH_ALLOW_DOWNLOAD"
_NAME = re.compile(r"^(?P<arch>[a-z0-9-]+?)(?P<metric>-ms-ssim)?-(?P<quality>\d+)-(?P<digest>[0-9a-f]{6,64})$")


@dataclass(frozen=True)
class ZooFile:
    path: Path
    arch: str
    metric: str  # "mse" or "ms-ssim", as CompressAI's table names them
    quality: int
    digest: str  # the SHA-256 prefix in the name


def is_zoo_weights(text: str) -> bool:
    """`weights=` names zoo files (or asks for CompressAI's) rather than a checkpoint trained here."""
    if not text:
        return False
    if text == "zoo":
        return True
    return any(part.endswith(SUFFIXES) or Path(part).is_dir() for part in text.split("+"))


def parse_name(path: Path) -> ZooFile | None:
    stem = path.name
    for suffix in SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    match = _NAME.match(stem)
    if match is None:
        return None
    metric = "ms-ssim" if match["metric"] else "mse"
    return ZooFile(path, match["arch"], metric, int(match["quality"]), match["digest"])


def resolve(text: str, arch: str, codec: str) -> list[ZooFile]:
    """The zoo files `weights=text` names for architecture `arch`, ordered by quality."""
    files = hub_files(arch, codec) if text == "zoo" else [f for part in text.split("+") for f in _files_in(Path(part), arch, codec)]
    files.sort(key=lambda f: (f.metric, f.quality))
    if len({f.metric for f in files}) > 1:
        raise BenchError(f"codec '{codec}': weights={text} mixes MSE and MS-SSIM checkpoints; give one kind")
    seen = {}
    for f in files:
        if f.quality in seen:
            raise BenchError(f"codec '{codec}': two checkpoints of quality {f.quality}: {seen[f.quality].path} and {f.path}")
        seen[f.quality] = f
    return files


def _files_in(path: Path, arch: str, codec: str) -> list[ZooFile]:
    if path.is_dir():
        found = [parse_name(p) for p in sorted(path.iterdir()) if p.name.endswith(SUFFIXES)]
        found = [f for f in found if f is not None and f.arch == arch]
        if not found:
            raise BenchError(f"codec '{codec}': no {arch} checkpoints named like CompressAI's ({arch}-QUALITY-HASH.pth.tar) in {path}")
        return found
    if not path.is_file():
        raise BenchError(f"codec '{codec}': weights file {path} does not exist")
    parsed = parse_name(path)
    if parsed is None:
        raise BenchError(f"codec '{codec}': {path} is not named like CompressAI's checkpoints ({arch}-QUALITY-HASH.pth.tar); "
                         "the quality in the name orders the rate points")
    if parsed.arch != arch:
        raise BenchError(f"codec '{codec}': {path} is a '{parsed.arch}' checkpoint, not '{arch}'")
    return [parsed]


def hub_files(arch: str, codec: str) -> list[ZooFile]:
    """CompressAI's MSE checkpoints of `arch` in torch.hub's folder, downloading the missing ones
    only when the user allowed it."""
    import torch.hub
    from compressai.zoo.image import model_urls

    if arch not in model_urls:
        raise BenchError(f"codec '{codec}': CompressAI's zoo has no '{arch}' checkpoints")
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    urls = model_urls[arch]["mse"]
    missing = {q: url for q, url in urls.items() if not (folder / os.path.basename(url)).is_file()}
    if missing and os.environ.get(DOWNLOAD_ENV) != "1":
        raise BenchError(f"codec '{codec}': weights=zoo needs {len(missing)} of CompressAI's {len(urls)} {arch} checkpoints not in "
                         f"{folder}; pass --allow-download to fetch them from {os.path.dirname(next(iter(missing.values())))}")
    for url in missing.values():
        download(url, folder / os.path.basename(url), codec)
    return [parse_name(folder / os.path.basename(url)) for url in urls.values()]


def download(url: str, target: Path, codec: str) -> None:
    """torch.hub's download with its hash check; any failure (offline, refused, corrupt) is one line."""
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    named = parse_name(target)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=named.digest if named else None, progress=True)
    except Exception as exc:  # URLError, HTTPError, RuntimeError (hash): all mean "no file"
        reason = getattr(exc, "reason", None) or exc
        raise BenchError(f"codec '{codec}': could not download {url}: {reason}") from None


def checked_digest(zoo_file: ZooFile, codec: str) -> str:
    """The file's SHA-256, refused when it does not begin with the prefix its name promises."""
    from bench.checkpoints import file_sha256

    digest = file_sha256(zoo_file.path)
    if not digest.startswith(zoo_file.digest):
        raise BenchError(f"codec '{codec}': {zoo_file.path}: its SHA-256 begins {digest[:len(zoo_file.digest)]}, not the "
                         f"{zoo_file.digest} its name promises (truncated or altered?)")
    return digest


def read_state_dict(path: Path, codec: str) -> dict:
    """The file's tensors with CompressAI's old key names renamed (`load_pretrained`). A training
    checkpoint that wraps them (`{"state_dict": ...}`, as CompressAI's example trainer saves) is unwrapped."""
    import pickle
    import warnings

    import torch
    from compressai.zoo.pretrained import load_pretrained

    try:
        with warnings.catch_warnings():  # torch's note on a file's pickle protocol: the refusal below says what matters
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"codec '{codec}': {path} is not a plain state dict ({first})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(f"codec '{codec}': {path} does not hold a state dict of tensors")
    return load_pretrained(state)


def build(arch: str, state: dict, path: Path, codec: str):
    """CompressAI's `from_state_dict` on the project's class for `arch` (3 channels, as trained)."""
    from bench.codecs.learned.models import ARCHITECTURES

    try:
        model = ARCHITECTURES[arch].from_state_dict(state)
    except (KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise BenchError(f"codec '{codec}': {path} does not fit {arch} ({first})") from None
    model.eval()
    if model.entropy_bottleneck._quantized_cdf.numel() == 0:  # saved before `update`: no coder tables yet
        model.update(force=True)
    return model


def describe(files: list[ZooFile], arch: str, codec: str) -> tuple[list, dict]:
    """(the networks, a manifest like a trained checkpoint's: per rate point its quality, file,
    SHA-256, N and M)."""
    models, points = [], []
    for f in files:
        digest = checked_digest(f, codec)
        model = build(arch, read_state_dict(f.path, codec), f.path, codec)
        models.append(model)
        points.append({"quality": f.quality, "metric": f.metric, "file": f.path.name, "sha256": digest,
                       "N": int(model.N), "M": int(model.M)})
    manifest = {"arch": arch, "source": SOURCE, "channels": 3, "rate_points": points,
                "N": sorted({p["N"] for p in points}), "M": sorted({p["M"] for p in points})}
    return models, manifest
