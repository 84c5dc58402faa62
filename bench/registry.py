"""Plugins found through entry points: `bench.codecs`, `bench.tasks`, `bench.datasets`.

Built-ins register exactly like third-party packages (see pyproject.toml), so adding a codec
is one entry point. A plugin that fails to import, or whose backend is missing, is listed
as unavailable with the reason and never breaks the others.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from bench.errors import PluginUnavailable, UnknownName

GROUPS = {"codec": "bench.codecs", "task": "bench.tasks", "dataset": "bench.datasets"}


@dataclass
class Plugin:
    kind: str  # "codec", "task" or "dataset"
    name: str
    target: str  # "module:attribute" from the entry point
    obj: Any = None  # the loaded class or factory, None when unavailable
    reason: str | None = None  # why it is unavailable

    @property
    def available(self) -> bool:
        return self.obj is not None and self.reason is None


def _load(kind: str, ep) -> Plugin:
    plugin = Plugin(kind, ep.name, ep.value)
    try:
        plugin.obj = ep.load()
    except Exception as exc:  # a broken plugin must not break the listing
        plugin.reason = f"import failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return plugin
    check = getattr(plugin.obj, "unavailable_reason", None)
    if callable(check):
        try:
            plugin.reason = check()
        except Exception as exc:
            plugin.reason = f"backend check failed: {type(exc).__name__}: {exc}".splitlines()[0]
    return plugin


@lru_cache(maxsize=None)
def plugins(kind: str) -> dict[str, Plugin]:
    """All plugins of one kind, in name order, loaded once per process."""
    eps = sorted(entry_points(group=GROUPS[kind]), key=lambda ep: ep.name)
    return {ep.name: _load(kind, ep) for ep in eps}


_single: dict[tuple[str, str], Plugin] = {}


def plugin(kind: str, name: str) -> Plugin | None:
    """One plugin, or None when no entry point has that name. Until something lists them all,
    only this one is imported: a worker that codes with jpeg2000 never loads torch models or
    probes ffmpeg for VVC."""
    if plugins.cache_info().currsize:  # a full listing is loaded (tests may patch it): stay consistent with it
        return plugins(kind).get(name)
    if (kind, name) not in _single:
        found = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name == name]
        if not found:
            return None
        _single[kind, name] = _load(kind, found[0])
    return _single[kind, name]


def get(kind: str, name: str) -> Any:
    """The plugin's class or factory; a clear error when unknown or unavailable."""
    found = plugin(kind, name)
    if found is None:
        loaded = plugins.cache_info().currsize
        names = list(plugins(kind)) if loaded else sorted({ep.name for ep in entry_points(group=GROUPS[kind])})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(names) or 'none'})"
        raise UnknownName(f"unknown {kind} '{name}'{hint}")
    if not found.available:
        raise PluginUnavailable(f"{kind} '{name}' is unavailable: {found.reason}")
    return found.obj


def available(kind: str) -> list[str]:
    return [name for name, p in plugins(kind).items() if p.available]
