"""Codec options: settings besides quality, declared by the codec and given on the command line.

`--codecs vvc:preset=slow,mbt2018-mean:lambda=0.0067,jpeg` names three codecs; the text after a
codec's first `:` is `key=value` pairs joined by `:`. Each codec declares its options (name,
type, default, meaning, allowed values); a spec is checked against that declaration before any
work, so a typo costs one line and exit code 2. The resolved settings go into the codec's
fingerprint (the cache key), the result rows and the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError

SPEC_SEPARATOR = ":"


@dataclass(frozen=True)
class CodecOption:
    name: str
    type: type  # int, float or str
    default: Any
    meaning: str  # one line for `bench codecs`
    choices: tuple = ()  # allowed values, when the option is a choice
    low: float | None = None
    high: float | None = None

    def parse(self, codec: str, value: Any) -> Any:
        """The value as this option's type, or a one-line error naming codec and option."""
        where = f"codec '{codec}' option {self.name}={value}"
        try:
            parsed = self.type(value)
        except (TypeError, ValueError):
            raise BenchError(f"{where}: expected {self.type.__name__} ({self.meaning})") from None
        if self.choices and parsed not in self.choices:
            raise BenchError(f"{where}: choose one of {', '.join(map(str, self.choices))}")
        if (self.low is not None and parsed < self.low) or (self.high is not None and parsed > self.high):
            raise BenchError(f"{where}: outside {self.low:g}..{self.high:g}")
        return parsed

    def describe(self) -> dict:
        return {"name": self.name, "type": self.type.__name__, "default": self.default, "meaning": self.meaning,
                "choices": list(self.choices), "low": self.low, "high": self.high}


def resolve(codec: str, declared: tuple[CodecOption, ...], given: dict[str, Any], kind: str = "codec") -> dict[str, Any]:
    """Every declared option's value: the given one (checked) or its default. Tasks declare their
    options the same way (`--task det:weights=FILE`), `kind` names which."""
    known = {o.name: o for o in declared}
    for key in given:
        if key not in known:
            valid = ", ".join(known) if known else "none"
            raise BenchError(f"{kind} '{codec}' has no option '{key}' (options: {valid})")
    return {name: (option.parse(codec, given[name]) if name in given else option.default) for name, option in known.items()}


@dataclass(frozen=True)
class CodecSpec:
    """A codec name plus the options given for it, as written by the user."""

    name: str
    given: tuple[tuple[str, str], ...] = field(default=())

    @property
    def label(self) -> str:
        """How results name this codec: `vvc`, or `vvc:preset=slow` when options were given."""
        return SPEC_SEPARATOR.join([self.name] + [f"{k}={v}" for k, v in self.given])

    @property
    def options(self) -> dict[str, str]:
        return dict(self.given)


def parse_spec(text: str, flag: str = "--codecs") -> CodecSpec:
    """`name` or `name:key=value[:key=value...]` -> CodecSpec (options sorted by key); `flag`
    names the option the text came from in errors."""
    name, *pairs = [part.strip() for part in text.strip().split(SPEC_SEPARATOR)]
    if not name:
        raise BenchError(f"{flag} '{text}': missing a name before ':'")
    given = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise BenchError(f"{flag} '{text}': expected {name}:key=value, got '{pair}'")
        if key.strip() in given:
            raise BenchError(f"{flag} '{text}': option '{key.strip()}' given twice")
        given[key.strip()] = value.strip()
    return CodecSpec(name, tuple(sorted(given.items())))
