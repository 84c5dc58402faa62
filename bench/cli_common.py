"""What the CLI's command modules share: JSON on stdout, the default dataset with its note, and
`--set KEY=VALUE` parsing."""

from __future__ import annotations

import json
import sys

from rich.console import Console

from bench.api import default_dataset
from bench.errors import BenchError


def print_json(rows) -> None:
    sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")


def default_dataset_name(err: Console) -> str:
    """`default_dataset`, with its fallback note on stderr."""
    name, note = default_dataset()
    if note:
        err.print(note, highlight=False, soft_wrap=True)
    return name


def parse_settings(settings: list[str]) -> dict:
    """--set KEY=VALUE pairs, values read as YAML scalars (3e-3, true, 24, cosine)."""
    import yaml

    options = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--set {item!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options
