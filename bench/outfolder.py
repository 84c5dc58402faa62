"""Can a results folder be written? Asked before any work, and kept free of pandas so that the
main process of a pooled run imports pandas while the workers code, not before they start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.errors import OutputError


def os_reason(exc: OSError) -> str:
    """The first line of an OSError's message, for a one-line error."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def check_writable(out_dir: Path) -> None:
    """Refuse a results folder that cannot be written before any work is done: probe the nearest
    existing folder on its path with a temporary entry (removed at once)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"results folder {out_dir} is a file, not a folder")
    if out_dir.is_dir() and not os.access(out_dir, os.W_OK):
        raise OutputError(f"results folder {out_dir} is read-only; give another --out")
    probe = next(p for p in (out_dir.parent, *out_dir.parent.parents) if p.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".bench-probe-", dir=probe))
    except OSError as exc:
        raise OutputError(f"cannot write results to {out_dir}: {os_reason(exc)}; give another --out") from exc
