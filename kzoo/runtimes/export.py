"""`export_runtime`: a finished run -> `OUTPUT/<runtime>/<version>/` (model file, preprocessing, kzoo.json).

Steps: the run's model and its Task's tensor-only endpoint; conversion (LiteRT retries with a
batch of 1 when the converter needs static shapes, e.g. an LSTM's TensorList); the runtime runs
the converted model on the example batch and it is compared with the Keras model; only then is
the version folder written (`kzoo.export.core.write_version`: a temporary folder renamed whole).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from kzoo import progress
from kzoo.errors import ConversionError, DataError, DataUnavailableError, ExportError
from kzoo.export.core import check_finite, load_run_model, open_run, write_version
from kzoo.runtimes import parity, to_litert, to_onnx
from kzoo.runtimes.convert import converter_output_captured
from kzoo.runtimes.formats import RUNTIMES, install_message
from kzoo.tasks import load_data

_CONVERTERS = {"litert": to_litert, "onnx": to_onnx}
# Batch axes tried in order: any batch, then the fixed batch some graphs need.
_BATCHES = {"litert": (None, 1), "onnx": (None,)}
_PACKAGES = {"litert": ("tensorflow", "ai-edge-litert"), "onnx": ("tensorflow", "tf2onnx", "onnx", "onnxruntime")}
PREPROCESSING_DIR, METADATA_FILE = "preprocessing", "kzoo.json"
CALIBRATION_EXAMPLES = 200


def check_request(runtime: str, quantize: str | None) -> None:
    """ExportError (one line) for an unknown runtime, a quantize mode it lacks, or its missing packages."""
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}; valid: {', '.join(RUNTIMES)}")
    if quantize is not None and quantize not in RUNTIMES[runtime].quantize_modes:
        modes = ", ".join(RUNTIMES[runtime].quantize_modes) or "none: its exports are float"
        raise ExportError(f"--quantize {quantize} is not available for {runtime} exports (modes: {modes})")
    message = install_message(runtime)
    if message:
        raise ExportError(message)


def export_runtime(run, runtime: str, output=None, quantize: str | None = None, tolerance: float | None = None,
                   overrides: Sequence[str] = ()) -> Path:
    """Convert a finished run's tensor-only signature for `runtime`, check it, write it; return the version folder.

    Args:
      run: a finished run directory or a `.keras` file inside one.
      runtime: "litert" or "onnx".
      output: the export folder (default `RUN/export`); the model goes to `output/<runtime>/<version>/`.
      quantize: None (float) or "int8" (LiteRT: the converter's dynamic-range quantization).
      tolerance: max |diff| of float outputs against the Keras model (default `parity.TOLERANCE`).
      overrides: "export.KEY=VALUE" serving options for this export (see `kzoo.export.core.open_run`).
    Raises ExportError (one line: the runtime, and the op that blocks it when the converter says) when
    the model cannot be converted or disagrees with the Keras model; nothing is written then.
    """
    check_request(runtime, quantize)
    run_dir, model_file, config = open_run(run, overrides)
    source = model_file or run_dir.model_file
    with progress.step(f"exporting {source} for {runtime}{f' ({quantize})' if quantize else ''}"):
        if keras.backend.backend() != "tensorflow":
            return _in_tensorflow_process(run, runtime, output, quantize, tolerance, overrides)
        task = config.task_object
        model = load_run_model(run_dir, model_file)
        preprocessor = run_dir.preprocessor(config)
        endpoint = task.tensor_endpoint(model, config, preprocessor)
        check_finite(model, config, task)
        representative, inputs, described = None, endpoint.example, "the entry's example batch"
        if quantize and runtime == "litert" and task.calibrates_int8 and endpoint.inputs_of is not None:
            # Calibrated int8 is only right on the data it was calibrated for: checked on the run's test inputs.
            representative, inputs = run_inputs(config, preprocessor, endpoint)
            described = "the run's test examples"
        content, batch, outputs = _convert(runtime, model, endpoint, quantize, config.entry, representative, inputs)
        expected = endpoint.reference(inputs)
        tolerance = parity.TOLERANCE[quantize] if tolerance is None else float(tolerance)
        report, failures = parity.compare(expected, outputs, tolerance, quantized=quantize is not None)
        if failures:
            raise ExportError(f"{runtime}: the {config.entry} export disagrees with the Keras model on {described} "
                              f"({'; '.join(failures)}); nothing written")
        info = {
            "entry": config.entry, "task": config.task, "runtime": runtime, "file": RUNTIMES[runtime].file,
            "bytes": len(content), "source": str(source), "quantization": _quantization(quantize, representative),
            "signature": _signature(endpoint, batch, expected, runtime),
            "export_options": dict(config.get("export") or {}),
            "fixed_shapes": None if batch is None else {
                "batch": batch, "reason": f"the {runtime} converter needs a static batch axis for this graph; "
                                          "send one example per call"},
            "class_names": list(getattr(preprocessor, "class_names", None) or []),
            "parity": {"inputs": f"{described} ({_rows(inputs)} rows)", "reference": "the Keras model in TensorFlow",
                       **report},
            "versions": _versions(runtime),
        }

        def write(tmp: Path) -> None:
            (tmp / info["file"]).write_bytes(content)
            (tmp / PREPROCESSING_DIR).mkdir()
            spec = task.write_preprocessing_assets(preprocessor, tmp / PREPROCESSING_DIR)
            info["preprocessing"] = {"directory": PREPROCESSING_DIR, **spec}
            (tmp / METADATA_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

        return write_version(Path(output or run_dir.export_dir) / runtime, write)


def _quantization(quantize: str | None, representative: list | None) -> dict | None:
    if not quantize:
        return None
    method = to_litert.FULL_INTEGER.format(n=len(representative)) if representative else to_litert.DYNAMIC_RANGE
    return {"mode": quantize, "method": method}


def _rows(inputs: dict) -> int:
    return len(next(iter(inputs.values())))


def run_inputs(config, preprocessor, endpoint, count: int = CALIBRATION_EXAMPLES, held_out: int = 64):
    """`(calibration, check)` from the data the run recorded, as endpoint inputs.

    `calibration`: `count` single-example batches of its training split (a representative dataset);
    `check`: one batch of its first `held_out` test examples. ExportError when the data cannot be read.
    """
    recorded = config.data_source or {}
    kind = recorded.get("kind")
    source = recorded.get("name") if kind == "files" else kind
    try:
        if not source:
            raise DataError("the run records no data source")
        bundle = load_data(config, source=source, data_dir=recorded.get("data_dir"),
                           seed=config.runtime.seed, batch_size=1, preprocessor=preprocessor)
    except (DataError, DataUnavailableError) as err:
        raise ExportError(f"litert: --quantize int8 calibrates on the run's training data, which cannot be read: "
                          f"{str(err).splitlines()[0]}") from None
    calibration = [endpoint.inputs_of(batch[0]) for batch in bundle.train.take(count).as_numpy_iterator()]
    rows = [endpoint.inputs_of(batch[0]) for batch in bundle.test.take(held_out).as_numpy_iterator()]
    return calibration, {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}


def _convert(runtime: str, model, endpoint, quantize: str | None, entry: str, representative: list | None,
             inputs: dict):
    """`(content, batch, outputs on inputs)` of the first batch axis that converts and runs."""
    converter, errors = _CONVERTERS[runtime], []
    for batch in _BATCHES[runtime]:
        try:
            with converter_output_captured():
                content = converter.convert(model, endpoint, batch, quantize, representative)
                return content, batch, parity.run_rows(converter.load(content), inputs, batch)
        except ConversionError as err:
            errors.append(str(err))
    raise ExportError(f"{runtime}: cannot convert {entry}: {errors[0]}")


def _signature(endpoint, batch, outputs: dict, runtime: str) -> dict:
    """{"inputs": {name: [dtype, shape]}, "outputs": {...}} as the runtime takes them (-1: any size)."""
    def shape(dims):
        return [-1 if d is None else int(d) for d in dims]

    inputs = {s.name: [s.dtype.name, shape(s.shape)] for s in endpoint.with_batch(batch)}
    outs = {k: [v.dtype.name, [-1 if batch is None else batch, *v.shape[1:]]] for k, v in outputs.items()}
    return {"key": to_litert.SIGNATURE if runtime == "litert" else None, "inputs": inputs, "outputs": outs}


def _versions(runtime: str) -> dict:
    found = {}
    for package in _PACKAGES[runtime]:
        try:
            found[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            found[package] = None
    return found


def _in_tensorflow_process(run, runtime, output, quantize, tolerance, overrides=()) -> Path:
    """Run `python -m kzoo.export --runtime` with `KERAS_BACKEND=tensorflow`; return the folder it wrote."""
    command = [sys.executable, "-m", "kzoo.export", str(run), "--runtime", runtime, *(f"--set={o}" for o in overrides)]
    command += ["--output", str(output)] if output else []
    command += ["--quantize", quantize] if quantize else []
    command += ["--tolerance", str(tolerance)] if tolerance is not None else []
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        message = lines[-1].partition("ExportError: ")[2] if lines else ""
        raise ExportError(message or f"{runtime} export in a TensorFlow-backend process failed: {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])
