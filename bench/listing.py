"""What `bench codecs` and `bench datasets` show, as plain dicts (the CLI prints them)."""

from __future__ import annotations

from bench import registry
from bench.errors import BenchError


def codec_rows() -> list[dict]:
    rows = []
    for name, plugin in registry.plugins("codec").items():
        cls = plugin.obj
        row = {"name": name, "family": getattr(cls, "family", None), "available": plugin.available,
               "reason": plugin.reason, "backend": None, "bit_depths": list(getattr(cls, "bit_depths", [])),
               "channels": list(getattr(cls, "channels", [])), "quality": None, "default_qualities": [],
               "quality_meaning": None, "lossless": None,
               "options": [o.describe() for o in getattr(cls, "options", ())]}
        scale = getattr(cls, "scale", None)
        if scale is not None:
            row.update(quality=scale.name, default_qualities=list(scale.defaults), quality_meaning=scale.meaning,
                       lossless=scale.lossless, quality_range=[scale.low, scale.high])
        if plugin.available:
            try:
                row["backend"] = cls.backend()
            except Exception as exc:
                row["backend"] = f"unknown ({exc})"
        rows.append(row)
    return rows


def dataset_rows() -> list[dict]:
    """Open each registered dataset with its default location; a failure becomes the reason."""
    rows = []
    for name, plugin in registry.plugins("dataset").items():
        row = {"name": name, "available": False, "reason": plugin.reason}
        if plugin.obj is not None:
            try:
                row.update(plugin.obj(None).summary(), name=name, available=True, reason=None)
            except BenchError as exc:
                row["reason"] = str(exc)
        rows.append(row)
    return rows
