"""`metadata.json` of a preset (and what a run's model card says beside its metrics): versions, sizes, data, command."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import shlex
import sys
from pathlib import Path
from typing import Mapping

import kzoo

_TOOLS = ("train.py", "distill.py")  # the tools/ scripts that make runs (their console scripts are kzoo-*)


def versions() -> dict:
    """The versions of Python, kzoo, Keras, keras-hub and TensorFlow, read without importing them."""
    found = {"python": platform.python_version(), "kzoo": kzoo.__version__}
    for name in ("keras", "keras-hub", "tensorflow"):
        try:
            found[name.replace("-", "_")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name.replace("-", "_")] = None
    return found


def recorded_command(argv: list[str] | None = None) -> str | None:
    """The command line of this process when it is a kzoo tool (`kzoo-train ...`, `python tools/train.py ...`).

    None inside other programs (a notebook, pytest): their command line did not make the run.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return None
    program = Path(argv[0])
    if program.name.startswith("kzoo-"):
        return shlex.join([program.name, *argv[1:]])
    if program.name in _TOOLS and program.parent.name == "tools":
        return shlex.join(["python", f"tools/{program.name}", *argv[1:]])
    return None


def directory_bytes(path: Path) -> int:
    """The bytes of every file under `path` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) if Path(path).exists() else 0


def serving_latency(metrics: Mapping) -> dict | None:
    """The first serving benchmark record in `metrics` (one with `batch1_p50_ms`), or None when never measured."""
    for value in metrics.values():
        if isinstance(value, Mapping) and "batch1_p50_ms" in value:
            return dict(value)
    return None


def describe(config: Mapping, metrics: Mapping, sizes: Mapping, files: Mapping | None = None) -> dict:
    """The metadata of a model made by a run: `config`, its `metrics.json`, `sizes` (bytes), `files` (preset only)."""
    used = metrics.get("data", {})
    return {
        "kzoo_preset": 1,
        "entry": config.entry,
        "task": config.task,
        "family": config.family,
        "versions": versions(),
        "trained_with": metrics.get("versions"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "parameters": metrics.get("parameters"),
        "data_source": config.data_source,
        "data": {"source": used.get("source"), "name": used.get("name"), "sizes": used.get("sizes"),
                 "notes": used.get("notes", [])},
        "test": metrics.get("test") or {},
        "chance": metrics.get("chance") if metrics.get("no_better_than_chance") else None,
        "epochs_run": metrics.get("epochs_run"),
        "command": metrics.get("command"),
        "init_from": config.train.init_from or None,
        "base_checkpoint": metrics.get("base_checkpoint"),
        "sizes": dict(sizes),
        "serving_latency": serving_latency(metrics),
        **({"files": dict(files)} if files is not None else {}),
    }
