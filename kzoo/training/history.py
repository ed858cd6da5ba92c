"""Reading a run's per-epoch CSV log."""

from __future__ import annotations

import csv
from pathlib import Path


def read_history(path: Path) -> dict:
    """Per-epoch values from a CSV log, which survives resumes (Keras's History does not)."""
    if not path.is_file():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(r["epoch"]): r for r in rows}  # a resumed epoch's row replaces the killed one
    history: dict[str, list] = {}
    for epoch in sorted(by_epoch):
        for key, value in by_epoch[epoch].items():
            if key != "epoch":
                history.setdefault(key, []).append(float(value))
    return history
