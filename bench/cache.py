"""Content-addressed store of finished cells, so reruns compute only what is new.

A cell's key hashes the codec's fingerprint (name, backend version, params), the quality
and the image content; its entry keeps the measured row and the bitstream itself, so a task
added later is scored on the very same decoded pixels. Task scores of a codec × quality
group are keyed by the task network's id and the group's cell keys. Writes are atomic
(temp file + rename), so an interrupted run never leaves a half entry; a write that fails (a
full disk, a read-only folder) stops the run with one line naming the cache folder, before any
results folder is written, and what was cached until then stays valid for the rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from bench.errors import OutputError

def default_dir() -> Path:
    """$BENCH_CACHE_DIR, else ~/.cache/mvmic-bench, as the environment says now."""
    return Path(os.environ.get("BENCH_CACHE_DIR", Path.home() / ".cache" / "mvmic-bench"))


def key_of(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def atomic_write(path: Path, data: bytes) -> None:
    """Write through a temp file and a rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Cache:
    def __init__(self, root: Path | str | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root else default_dir()
        self.enabled = enabled

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get_cell(self, key: str) -> tuple[dict, bytes] | None:
        if not self.enabled:
            return None
        folder = self._dir(key)
        try:
            row = json.loads((folder / "row.json").read_text())
            stream = (folder / "stream.bin").read_bytes()
        except (OSError, ValueError):
            return None
        return (row, stream) if len(stream) == row.get("bytes") else None

    def _write(self, path: Path, data: bytes) -> None:
        try:
            atomic_write(path, data)
        except OSError as exc:
            raise OutputError(f"cache folder {self.root}: cannot write ({exc.strerror or exc}); free space there, "
                              f"point BENCH_CACHE_DIR elsewhere, or run with --no-cache") from exc

    def put_cell(self, key: str, row: dict, stream: bytes) -> None:
        if self.enabled:
            folder = self._dir(key)
            self._write(folder / "stream.bin", stream)  # the row last: an entry without it is never read
            self._write(folder / "row.json", json.dumps(row).encode())

    def get_json(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        try:
            return json.loads((self._dir(key) / "value.json").read_text())
        except (OSError, ValueError):
            return None

    def put_json(self, key: str, value: dict) -> None:
        if self.enabled:
            self._write(self._dir(key) / "value.json", json.dumps(value).encode())
