"""Plugins: `bench.codecs`, `bench.tasks`, `bench.datasets`.

Two ways in:
- entry points, for installed packages (the built-ins register this way too, see pyproject.toml):
  a name maps to its module without importing it, so a worker that codes with jpeg2000 never
  imports the other codecs;
- `@register("codec")` on a class in a module named by `$BENCH_PLUGINS` (comma-separated module
  names or `.py` paths): your codec as one file, with no package and no pyproject.toml edit.
A plugin that fails to import, or whose backend is missing, is listed as unavailable with the
reason and never breaks the others.
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


_registered: dict[str, dict[str, Any]] = {kind: {} for kind in GROUPS}
_broken_modules: dict[str, str] = {}  # $BENCH_PLUGINS entry -> why it did not import


def register(kind: str, name: str | None = None):
    """Class decorator: `@register("codec")` makes the class a plugin under its `name` (or `name=`)."""
    if kind not in GROUPS:
        raise ValueError(f"register: kind must be one of {', '.join(GROUPS)}, not {kind!r}")

    def add(obj):
        _registered[kind][name or obj.name] = obj
        return obj

    return add


@lru_cache(maxsize=None)
def _import_plugin_modules(spec: str) -> None:
    """Import every module `$BENCH_PLUGINS` names, once per process (their decorators register)."""
    import importlib
    import importlib.util
    from pathlib import Path

    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        try:
            if item.endswith(".py"):
                path = Path(item)
                module_spec = importlib.util.spec_from_file_location(f"bench_plugin_{path.stem}", path)
                if module_spec is None or not path.is_file():
                    raise FileNotFoundError(f"no file {path}")
                module = importlib.util.module_from_spec(module_spec)
                module_spec.loader.exec_module(module)
            else:
                importlib.import_module(item)
        except Exception as exc:  # a broken plugin file must not break the others
            _broken_modules[item] = f"import failed: {type(exc).__name__}: {exc}".splitlines()[0]


def _registered_plugins(kind: str) -> dict[str, Plugin]:
    import os

    _import_plugin_modules(os.environ.get("BENCH_PLUGINS", ""))
    found = {}
    for name, obj in _registered[kind].items():
        plugin = Plugin(kind, name, f"{obj.__module__}:{obj.__qualname__}", obj)
        check = getattr(obj, "unavailable_reason", None)
        if callable(check):
            try:
                plugin.reason = check()
            except Exception as exc:
                plugin.reason = f"backend check failed: {type(exc).__name__}: {exc}".splitlines()[0]
        found[name] = plugin
    return found


@lru_cache(maxsize=None)
def plugins(kind: str) -> dict[str, Plugin]:
    """All plugins of one kind, in name order, loaded once per process (an entry point wins a name clash)."""
    eps = sorted(entry_points(group=GROUPS[kind]), key=lambda ep: ep.name)
    found = {**_registered_plugins(kind), **{ep.name: _load(kind, ep) for ep in eps}}
    return dict(sorted(found.items()))


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
            return _registered_plugins(kind).get(name)
        _single[kind, name] = _load(kind, found[0])
    return _single[kind, name]


def get(kind: str, name: str) -> Any:
    """The plugin's class or factory; a clear error when unknown or unavailable."""
    found = plugin(kind, name)
    if found is None:
        loaded = plugins.cache_info().currsize
        names = sorted(plugins(kind)) if loaded else sorted({ep.name for ep in entry_points(group=GROUPS[kind])} | set(_registered_plugins(kind)))
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(names) or 'none'})"
        broken = "".join(f"; $BENCH_PLUGINS {item}: {why}" for item, why in _broken_modules.items())
        raise UnknownName(f"unknown {kind} '{name}'{hint}{broken}")
    if not found.available:
        raise PluginUnavailable(f"{kind} '{name}' is unavailable: {found.reason}")
    return found.obj


def available(kind: str) -> list[str]:
    return [name for name, p in plugins(kind).items() if p.available]


def list(kind: str, pattern: str = "*", available: bool | None = None, dataset=None) -> "list[str]":  # noqa: A001 - timm's name; nothing here calls the builtin
    """Plugin names of `kind` matching the fnmatch `pattern` (as timm's `list_models`), in name order.
    `available=True`: only those that work here; `dataset`: only those that can run on it (a codec
    with weights for it, a task whose labels and network exist)."""
    import fnmatch

    names = []
    for name, p in plugins(kind).items():
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        if available is not None and p.available is not available:
            continue
        if dataset is not None:
            if not p.available:
                continue
            check = getattr(p.obj, "dataset_reason" if kind == "codec" else "supports", None)
            if callable(check) and check(dataset) is not None:
                continue
        names.append(name)
    return names
