"""Serving speed of a LiteRT / ONNX export: size, batch-1 p50/p99, batch-256 throughput (`kzoo-benchmark --serving`).

Inputs are the entry's representative raw request (`Task.serving_example`) preprocessed the way a
client would (`Task.tensor_inputs`, with the run's own preprocessor), so a portable export is timed
on what its SavedModel is timed on; the export must therefore sit in its run (`RUN/export/<runtime>/<v>`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from kzoo.errors import ExportError, RunDirError
from kzoo.run_dir import RunDir
from kzoo.runtimes import parity, to_litert, to_onnx
from kzoo.runtimes.formats import RUNTIMES

_LOADERS = {"litert": to_litert.load, "onnx": to_onnx.load}


def is_portable(export_dir) -> bool:
    """Whether `export_dir` is one version of a LiteRT / ONNX export (its `kzoo.json` and model file)."""
    path = Path(export_dir).expanduser()
    return (path / "kzoo.json").is_file() and any((path / r.file).is_file() for r in RUNTIMES.values())


def export_info(export_dir) -> dict:
    """The portable export's `kzoo.json`; ExportError when its run (for the benchmark's inputs) is not around it."""
    path = Path(export_dir).expanduser()
    info = json.loads((path / "kzoo.json").read_text(encoding="utf-8"))
    if path.parent.name not in RUNTIMES:
        raise ExportError(f"export {export_dir!r} is not inside a run's export/<runtime>/ folder: the benchmark "
                          "preprocesses its inputs with the run's own vocabulary or id maps")
    try:
        RunDir.find(path.parent.parent)
    except RunDirError as err:
        raise ExportError(f"export {export_dir!r}: {err}") from None
    return info


def tensor_inputs(export_dir, batch: int) -> dict:
    """The entry's representative request of `batch` examples, as the export's tensor inputs."""
    path = Path(export_dir).expanduser()
    run = RunDir.find(path.parent.parent)
    config = run.config()
    task = config.task_object
    raw = {k: np.asarray(v) for k, v in task.serving_example(batch).items()}
    return task.tensor_inputs(raw, run.preprocessor(config))


def as_signature(export_dir):
    """A `serving_default`-like function of a portable export, for the SavedModel scorers (`kzoo.serving_eval`).

    It takes raw keyword tensors (`text=` / `image=`) and returns the raw-input SavedModel's outputs
    (`label`, `probabilities`, `translation`) as tensors, computed the way a client would: the run's
    preprocessing (`Task.tensor_inputs`), the runtime on the tensor-only model, `Task.serving_outputs`.
    """
    import tensorflow as tf

    path = Path(export_dir).expanduser()
    info = export_info(path)
    run = RunDir.find(path.parent.parent)
    config = run.config()
    task, preprocessor = config.task_object, run.preprocessor(config)
    runner = _LOADERS[info["runtime"]]((path / info["file"]).read_bytes())
    fixed = (info.get("fixed_shapes") or {}).get("batch")

    def serve(**raw):
        raw = {name: np.asarray(value.numpy() if hasattr(value, "numpy") else value) for name, value in raw.items()}
        outputs = parity.run_rows(runner, task.tensor_inputs(raw, preprocessor), fixed)
        return {name: tf.constant(value) for name, value in task.serving_outputs(outputs, preprocessor).items()}

    return serve


def portable_run(export_dir, calls: int = 1000) -> dict:
    """One benchmark record: model bytes, batch-1 p50/p99 (ms) and batch-256 throughput (examples/s)."""
    path = Path(export_dir).expanduser()
    info = export_info(path)
    content = (path / info["file"]).read_bytes()
    fixed = (info.get("fixed_shapes") or {}).get("batch")
    one, many = tensor_inputs(path, 1), tensor_inputs(path, 256)
    run_one = _LOADERS[info["runtime"]](content)  # one runner per batch size: no resizing between calls
    run_many = _LOADERS[info["runtime"]](content)
    for _ in range(10):
        run_one(one)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        run_one(one)
        latencies.append(time.perf_counter() - started)
    parity.run_rows(run_many, many, fixed)
    repeats = 5
    started = time.perf_counter()
    for _ in range(repeats):
        parity.run_rows(run_many, many, fixed)
    seconds = time.perf_counter() - started
    return {"export": str(export_dir), "entry": info["entry"], "runtime": info["runtime"], "bytes": info["bytes"],
            "quantization": (info.get("quantization") or {}).get("mode"), "fixed_batch": fixed,
            "batch1_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 3),
            "batch1_p99_ms": round(1000 * float(np.percentile(latencies, 99)), 3),
            "batch256_examples_per_sec": round(256 * repeats / seconds, 1)}
