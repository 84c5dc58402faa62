"""The one place that configures Ultralytics for offline use; import it before `ultralytics`.

Ultralytics 8.4 reaches the network in several places (see /work/shared/notes/offline-ml.md):
the connectivity probe at import, the PyPI update check and analytics (`YOLO_OFFLINE=1` set
before import, `sync: False`), the `Arial.ttf` download on every train/val even with
`plots=False` (a TTF already in its config folder: we copy matplotlib's DejaVuSans there),
the AMP check (only with CUDA and amp=True; training passes amp=False) and auto-install of
missing packages (`YOLO_AUTOINSTALL=0`).

Its settings and fonts live in `YOLO_CONFIG_DIR`: unless the caller set it, we point it at
the project's cache ($BENCH_CACHE_DIR/ultralytics, else ~/.cache/mvmic-bench/ultralytics),
never at ~/.config. Importing ultralytics also sets OMP_NUM_THREADS=1 and lowers torch's
thread count; `ultralytics()` puts both back.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")
_configured = None


def config_dir() -> Path:
    """YOLO_CONFIG_DIR to use: the caller's, else the project's cache folder."""
    if os.environ.get("YOLO_CONFIG_DIR"):
        return Path(os.environ["YOLO_CONFIG_DIR"]).expanduser()
    cache = os.environ.get("BENCH_CACHE_DIR") or str(Path.home() / ".cache" / "mvmic-bench")
    return Path(cache).expanduser() / "ultralytics"


def _place_fonts(folder: Path) -> None:
    """Put a TTF where Ultralytics' check_font looks first, so it never downloads Arial."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FONTS:
        target = folder / name
        if not target.exists() and source.is_file():
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)


def ultralytics():
    """Import and return the `ultralytics` module configured for offline use (idempotent)."""
    global _configured
    if _configured is not None:
        return _configured
    if "ultralytics" not in sys.modules:  # env vars only count before the first import
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir()))
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "0"
        Path(os.environ["YOLO_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
        # the font must be there before any train/val; the folder is YOLO_CONFIG_DIR/Ultralytics
        _place_fonts(Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics")
    import torch

    threads, omp = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    # a first import writes its settings file and logs a banner pointing at `yolo settings` and
    # docs.ultralytics.com: quiet for that import only, in a tool that stays offline
    quiet = "ultralytics" not in sys.modules and "YOLO_VERBOSE" not in os.environ and \
        not (Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics" / "settings.json").exists()
    if quiet:
        os.environ["YOLO_VERBOSE"] = "False"
    import ultralytics as ul
    from ultralytics.utils import LOGGER, SETTINGS, USER_CONFIG_DIR

    if quiet:
        import logging

        del os.environ["YOLO_VERBOSE"]
        LOGGER.setLevel(logging.INFO)

    _place_fonts(Path(USER_CONFIG_DIR))  # where it actually looks, also if imported before us
    if SETTINGS.get("sync", True):
        SETTINGS.update({"sync": False})
    torch.set_num_threads(threads)  # importing ultralytics drops torch to 1 thread
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
    _configured = ul
    return ul
