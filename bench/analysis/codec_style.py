"""How a codec looks in every figure: a short label from its display name, a hue family by kind
(classical cool, learned warm, task-driven red-magenta), and its own marker and line style, so
thirteen curves stay apart in print and in grey. Keyed by the codec spec, so a codec looks the
same in every figure of a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import seaborn

from bench.analysis.reader import REFERENCE

DISPLAY = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000", "htj2k": "HTJ2K", "jpegls": "JPEG-LS", "jpegxl": "JPEG XL",
           "webp": "WebP", "avif": "AVIF", "bpg": "BPG (x265)", "vvc": "VVC (VVenC medium)",
           "bmshj2018-hyperprior": "bmshj2018 hyperprior", "mbt2018-mean": "mbt2018 mean", "cheng2020-anchor": "cheng2020 anchor",
           "mvmicnet": "MVMICNet"}
LEARNED = {"bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor"}
TASK_DRIVEN = {"mvmicnet"}
FAMILY_ORDER = ("classical", "learned", "task-driven")
PALETTES = {"classical": ("crest", 0.15, 0.95), "learned": ("YlOrBr", 0.45, 0.8), "task-driven": ("RdPu", 0.55, 0.95)}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))


@dataclass(frozen=True)
class CodecStyle:
    label: str
    family: str
    color: tuple
    marker: str
    linestyle: object


def base_name(spec: str) -> str:
    return spec.split(":", 1)[0]


def family(spec: str) -> str:
    name = base_name(spec)
    if name in TASK_DRIVEN:
        return "task-driven"
    if name in LEARNED:
        return "learned"
    try:
        from bench import registry

        return "learned" if getattr(registry.get("codec", name), "family", "classical") == "learned" else "classical"
    except Exception:  # an unregistered plugin's results: read as classical
        return "classical"


def display_label(spec: str) -> str:
    """`vvc:preset=faster` -> 'VVC (VVenC faster)', `mvmicnet:weights=.../mvmicnet-seg-control.safetensors`
    -> 'MVMICNet (control)'; paths never appear, other options as k=v."""
    name, _, rest = spec.partition(":")
    options = dict(part.split("=", 1) if "=" in part else (part, "1") for part in rest.split(":") if part)
    text = DISPLAY.get(name, name)
    notes = []
    if name == "vvc" and "preset" in options:
        text = f"VVC (VVenC {options.pop('preset')})"
    weights = options.pop("weights", None)
    if options.pop("control", None) in ("1", "true") or (weights and "control" in weights):
        notes.append("control")
    if weights and "control" not in notes:
        notes.append(PurePath(weights).stem.replace(f"{name}-", "")[:24])
    notes += [f"{k}={v}" for k, v in sorted(options.items())]
    return f"{text} ({', '.join(notes)})" if notes else text


def codec_styles(codecs) -> dict[str, CodecStyle]:
    """One style per codec spec (the reference excluded), stable for a given set of codecs."""
    names = sorted(set(codecs) - {REFERENCE})
    by_family = {f: [c for c in names if family(c) == f] for f in FAMILY_ORDER}
    styles = {}
    for fam, members in by_family.items():
        if not members:
            continue
        cmap, lo, hi = PALETTES[fam]
        colors = seaborn.color_palette(cmap, 64)
        picks = [colors[int(round((lo + (hi - lo) * (k / max(len(members) - 1, 1))) * 63))] for k in range(len(members))]
        offset = FAMILY_ORDER.index(fam) * 3  # families do not start on the same marker
        for k, (codec, color) in enumerate(zip(members, picks)):
            styles[codec] = CodecStyle(display_label(codec), fam, tuple(color), MARKERS[(k + offset) % len(MARKERS)],
                                       LINESTYLES[k % len(LINESTYLES)])
    return styles
