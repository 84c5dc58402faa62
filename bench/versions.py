"""Code versions of the scoring code, for cache keys.

A cached PSNR, Dice or mAP is only as good as the code that computed it. Each figure's key
therefore holds a digest of the source files that compute it, plus the versions of the
libraries they call, so editing a metric (or upgrading MS-SSIM, MONAI, faster-coco-eval)
recomputes the scores instead of silently reusing old ones. Sources are read from disk, not
imported: a fully cached run need not import torch to know its keys.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata, util

from bench.errors import BenchError


def _read_source(module: str) -> bytes:
    spec = util.find_spec(module)
    if spec is None or not spec.origin:
        raise BenchError(f"scoring module {module} not found")
    with open(spec.origin, "rb") as fh:
        return fh.read()


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


@lru_cache(maxsize=None)
def code_version(modules: tuple[str, ...], packages: tuple[str, ...] = ()) -> str:
    """Digest of the modules' source text and the packages' installed versions."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.encode() + b"\0" + _read_source(module) + b"\0")
    for package in packages:
        digest.update(f"{package}=={_package_version(package)}\0".encode())
    return digest.hexdigest()[:16]


QUALITY_MODULES = ("bench.quality",)
QUALITY_PACKAGES = ("numpy",)


def quality_version() -> str:
    """Version of the PSNR / MS-SSIM code every cell row carries."""
    return code_version(QUALITY_MODULES, QUALITY_PACKAGES)
