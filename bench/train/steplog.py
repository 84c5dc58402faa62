"""A per-step CSV log that survives being cut and resumed.

Rows are appended and flushed as they come. On resume, rows after the step the saved state holds
are dropped first, so the log of a cut-and-resumed run equals that of an uncut one.
"""

from __future__ import annotations

import csv
from pathlib import Path


class StepLog:
    def __init__(self, path: Path, fields: list[str], resume_from_step: int | None = None) -> None:
        self.path, self.fields = Path(path), list(fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_from_step is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                kept = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_from_step]
        with self.path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(kept)

    def append(self, row: dict) -> None:
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(row)
