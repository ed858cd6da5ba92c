"""A run directory's model card (`RUN/README.md`), and the `ModelCard` plug-in that writes it at the end of a run.

The plug-in also records the command that started the run (`metrics.json` → `command`) when a
kzoo tool started it, so cards and presets can say how the model was made.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

from kzoo.errors import RunDirError
from kzoo.plugin import RunPlugin
from kzoo.presets.card import model_card
from kzoo.presets.files import CARD_FILE
from kzoo.presets.metadata import describe, directory_bytes, recorded_command
from kzoo.run_dir import RunDir, write_atomically, write_json


def run_sizes(run: RunDir) -> dict:
    """Bytes of a run's `model.keras`, `preprocessing/` and newest SavedModel export (0: absent)."""
    versions = run.export_versions()
    return {"model_keras_bytes": run.model_file.stat().st_size if run.model_file.is_file() else 0,
            "preprocessing_bytes": directory_bytes(run.preprocessing_dir),
            "saved_model_bytes": directory_bytes(versions[-1]) if versions else 0}


def write_run_card(run: RunDir, metrics: Mapping | None = None) -> Path:
    """Write `RUN/README.md`, the model card of a finished run (`metrics`: default its `metrics.json`)."""
    config = run.config()
    metadata = describe(config, metrics if metrics is not None else run.metrics(), run_sizes(run))
    text = model_card(config, metadata, reference=str(run), run=True)
    write_atomically(run.path / CARD_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return run.path / CARD_FILE


def record_serving_latency(run: RunDir, record: Mapping) -> Path:
    """Keep a SavedModel latency record of `run`'s export as `metrics.json` → `serving_latency`; rewrite the card.

    `kzoo-benchmark --serving RUN/export/VERSION` calls it, so the card's latency line is the measured one.
    """
    metrics = {**run.metrics(), "serving_latency": dict(record)}
    write_json(metrics, run.metrics_file)
    return write_run_card(run, metrics)


class ModelCard(RunPlugin):
    """Trainer plug-in: records the tool's command in `metrics.json` and writes `RUN/README.md` when the run ends."""

    def __init__(self):
        self.command = recorded_command()  # when the trainer is made: the process's own command line

    def metrics(self, net, config: Mapping, total_steps: int | None) -> dict:
        """`command`: the kzoo tool's command line that started the run (None from other programs)."""
        return {"command": self.command}

    def after_run(self, metrics: dict) -> None:
        """Write the run's model card (exported or not); a failure to write it warns and leaves the finished run as it is."""
        try:
            write_run_card(RunDir(metrics["run_dir"]), metrics)
        except (RunDirError, OSError) as err:
            print(f"kzoo: warning: the model card was not written: {err}", file=sys.stderr, flush=True)
