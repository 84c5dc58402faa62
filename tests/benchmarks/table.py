"""Markdown table of a pytest-benchmark JSON report written by the speed benchmarks.

    pytest tests/benchmarks --benchmark-only --benchmark-json=results/benchmarks/cpu.json
    python tests/benchmarks/table.py results/benchmarks/cpu.json

One row per benchmark: group, name, rounds, mean seconds and the rate it recorded
(MP/s for codecs, img/s for tasks, the overhead ratio for the harness).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RATES = (("mp_per_s", "MP/s"), ("img_per_s", "img/s"))


def rate_text(extra: dict) -> str:
    for key, unit in RATES:
        if key in extra:
            return f"{extra[key]:.2f} {unit}"
    if "overhead" in extra:
        return (f"overhead {extra['overhead']:.1%} (execute alone {extra['overhead_execute']:.1%}; "
                f"work {extra['codec_s'] + extra['task_s']:.1f} s, wall {extra['wall_s']:.1f} s)")
    return ""


def table(report: dict) -> str:
    lines = ["| group | benchmark | rounds | mean s | rate |", "|---|---|---:|---:|---|"]
    for b in sorted(report["benchmarks"], key=lambda b: (b.get("group") or "", b["name"])):
        stats = b["stats"]
        lines.append(f"| {b.get('group') or ''} | {b['name']} | {stats['rounds']} | {stats['mean']:.4g} | {rate_text(b.get('extra_info', {}))} |")
    machine = report.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw") or machine.get("processor") or "?"
    lines.append("")
    lines.append(f"{len(report['benchmarks'])} benchmarks, {report.get('datetime', '?')}, {cpu}, "
                 f"Python {machine.get('python_version', '?')}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(table(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
