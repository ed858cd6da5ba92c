"""Benchmarks behind `kzoo-benchmark`: real-data accuracy runs, step throughput, serving latency.

Accuracy runs train each seed in a child process (`python -m kzoo.cli.train`), so peak RSS is
measured per run and one run's memory never inflates the next. Serving benchmarks check every
export and the evaluation data before timing anything, and hand each record on as soon as it exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

import keras
import numpy as np
import tensorflow as tf

import kzoo
from kzoo import progress, serving_eval
from kzoo.data import is_prepared, resolve_data_dir
from kzoo.data.seq2seq import find_raw_folder
from kzoo.errors import DataError, DataUnavailableError, ExportError, RunDirError
from kzoo.presets.run_card import record_serving_latency
from kzoo.run_dir import RunDir
from kzoo.runtimes import bench as portable
from kzoo.serving_eval import load_saved_model
from kzoo.export.core import export_task
from kzoo.tasks import compile_model, example_batch, list_tasks

def accuracy_run(model: str, seed: int, data: str, data_dir: str | None, overrides: Iterable[str] = (),
                 epochs: int | None = None, output: str | None = None, export: bool = False) -> dict:
    """Train `model` once with `seed` in a child process; return one benchmark record.

    `data`/`data_dir`/`overrides`/`epochs` are passed on as `kzoo-train` flags; the run goes to
    `output/run` (default: a new temporary folder). The record holds the command, wall seconds,
    peak RSS and exit code, then the run's test metrics and sizes, or the log's tail on failure.
    """
    output = output or tempfile.mkdtemp(prefix=f"kzoo-bench-{model}-s{seed}-")
    run_dir = Path(output) / "run"
    cmd = [sys.executable, "-m", "kzoo.cli.train", "--model", model, "--data", data,
           "--seed", str(seed), "--output", str(run_dir)]
    cmd += ["--data-dir", data_dir] if data_dir else []
    cmd += ["--epochs", str(epochs)] if epochs else []
    cmd += [] if export else ["--no-export"]
    for item in overrides:
        cmd += ["--set", item]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    record = {"model": model, "seed": seed, "command": " ".join(cmd[1:]), "wall_seconds": round(wall, 1),
              "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit_code": os.waitstatus_to_exitcode(status)}
    if record["exit_code"] != 0:
        record["error"] = log[-3000:]
        return record
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record.update({
        "dataset": metrics["data"]["name"], "source": metrics["data"]["source"],
        "sizes": metrics["data"]["sizes"], "test": metrics["test"], "epochs": metrics["epochs_run"], "refit": metrics.get("refit"),
        "train_seconds": metrics["train_seconds"], "train_examples_per_sec": metrics["train_examples_per_sec"],
        "parameters": metrics["parameters"], "run_dir": str(run_dir),
    })
    return record


def summarize(records: list[dict], main_metrics: Iterable[str]) -> dict:
    """Return the run counts and the mean, std and per-seed values of `main_metrics` (the entry's
    `Task.main_metrics`) over the successful `records`."""
    ok = [r for r in records if r.get("exit_code") == 0]
    summary = {"runs": len(records), "ok": len(ok)}
    for metric in main_metrics:
        values = [r["test"][metric] for r in ok if metric in r["test"]]
        if values:
            summary[metric] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
    return summary


def speed_run(model: str, batch_size: int | None = None, warmup: int = 5, steps: int = 30,
              overrides: Iterable[str] = (), jit_compile: bool = False) -> dict:
    """Training-step throughput of `model` on a fixed in-memory batch (timm's benchmark.py style).

    Compiles as `train()` does (`jit_compile` adds XLA), fits `warmup` steps, times `steps`;
    returns a record with ms/step, samples/s and the compile settings that applied.
    """
    config = kzoo.get_config(model, list(overrides))
    batch_size = batch_size or config.train.batch_size
    net = kzoo.build_from_config(config, compile=False)
    compile_model(net, config, jit_compile=jit_compile)
    x, y = example_batch(config, batch_size=batch_size)
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    net.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
    started = time.perf_counter()
    net.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started
    return {"model": model, "mode": "speed", "batch_size": batch_size, "steps": steps,
            "jit_compile": bool(net.jit_compile), "steps_per_execution": int(net.steps_per_execution),
            "ms_per_step": round(1000 * seconds / steps, 2),
            "samples_per_sec": round(batch_size * steps / seconds, 1),
            "parameters": int(net.count_params()), "keras": keras.__version__}


def _percentile_ms(samples: list[float], q: float) -> float:
    return round(1000 * float(np.percentile(samples, q)), 3)


def serving_run(export_dir: str, inputs_batch1: dict, inputs_batch256: dict, calls: int = 1000,
                signature: str = "serving_default") -> dict:
    """Batch-1 latency (p50/p99 over `calls`) and batch-256 throughput of a SavedModel signature.

    `inputs_batch1` / `inputs_batch256`: keyword tensors for the signature (`serving_inputs`).
    Returns one record (milliseconds, examples/s).
    """
    fn = load_saved_model(export_dir).signatures[signature]
    for _ in range(10):
        fn(**inputs_batch1)
    latencies = []
    bar = progress.bar(calls)
    for call in range(calls):
        started = time.perf_counter()
        fn(**inputs_batch1)
        latencies.append(time.perf_counter() - started)
        if bar is not None and (call + 1) % 50 == 0:  # outside the timed call; every 50 keeps the drawing cheap
            bar.update(call + 1)
    fn(**inputs_batch256)
    started = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        fn(**inputs_batch256)
    seconds = time.perf_counter() - started
    return {"export": export_dir, "signature": signature, "batch1_p50_ms": _percentile_ms(latencies, 50),
            "batch1_p99_ms": _percentile_ms(latencies, 99),
            "batch256_examples_per_sec": round(256 * repeats / seconds, 1)}


def serving_inputs(export_dir: str, batch: int) -> dict:
    """Representative raw inputs for an export's `serving_default`, from its `assets.extra/kzoo.json`."""
    info = json.loads((Path(export_dir) / "assets.extra" / "kzoo.json").read_text())
    return export_task(info["task"]).serving_example(batch)


def check_serving_inputs(export_dirs: Iterable[str], eval_data_dir: str | None = None) -> dict:
    """Refuse bad serving-benchmark input before any timing; return {export_dir: its evaluation data}.

    Each export must be a kzoo SavedModel (`saved_model.pb`, `assets.extra/kzoo.json`) with a
    `serving_default` signature. With `eval_data_dir`, its task must score exports, the dataset its
    entry is scored on must be there (a prepared tfds copy, or the raw folder), and one test
    example is scored end to end. Raises ExportError, DataError or DataUnavailableError (one line).
    The evaluation data is `{"source", "name"[, "data_dir"]}`, or None without `eval_data_dir`.
    """
    checked = {}
    for export_dir in export_dirs:
        info = _export_info(export_dir)
        checked[export_dir] = _eval_data(export_dir, info, eval_data_dir) if eval_data_dir else None
    return checked


def _export_info(export_dir: str) -> dict:
    path = Path(export_dir).expanduser()
    if not path.exists():
        raise ExportError(f"export {export_dir!r} does not exist")
    if portable.is_portable(path):
        return portable.export_info(path)
    if not (path / "saved_model.pb").is_file():
        versions = sorted((v.name for v in path.iterdir() if v.name.isdigit() and (v / "saved_model.pb").is_file()),
                          key=int) if path.is_dir() else []
        hint = f"; name a version folder, e.g. {path / versions[-1]}" if versions else ""
        raise ExportError(f"export {export_dir!r} is not a SavedModel (no saved_model.pb){hint}")
    if not (path / "assets.extra" / "kzoo.json").is_file():
        raise ExportError(f"export {export_dir!r} is not a kzoo export: no assets.extra/kzoo.json")
    info = serving_eval.export_info(path)
    signatures = info.get("signatures")
    if signatures is not None and "serving_default" not in signatures:
        raise ExportError(f"export {export_dir!r} has no serving_default signature (it has {', '.join(signatures)})")
    return info


def _eval_data(export_dir: str, info: dict, data_dir: str) -> dict:
    if not export_task(info["task"]).evaluates_exports:
        supported = list_tasks(lambda task: task.evaluates_exports)
        raise ExportError(f"{export_dir}: evaluating a {info['task']} export is not supported "
                          f"(supported: {', '.join(supported)}); leave out --eval-data-dir")
    dataset = kzoo.get_config(info["entry"]).data.dataset
    try:
        prepared = is_prepared(dataset, data_dir)
    except DataError:  # not a tfds name: the entry is scored on a raw folder, read below
        prepared = None
    if prepared is False:
        raise DataUnavailableError(
            f"--eval-data-dir {data_dir}: the tfds dataset {dataset!r} that {info['entry']} exports are scored "
            f"on is not prepared there; pass the tfds data dir holding it (prepare one with: python -c \"import "
            f"tensorflow_datasets as tfds; tfds.load('{dataset}', data_dir='DIR')\")")
    serving_eval.evaluate_export(export_dir, data_dir, max_examples=1)  # every input once, in seconds
    if prepared:
        return {"source": "tfds", "name": dataset, "data_dir": resolve_data_dir(data_dir)}
    return {"source": "files", "name": str(find_raw_folder(dataset, data_dir) or os.path.abspath(data_dir))}


def _trained_on(export_dir: str) -> dict | None:
    """The data source recorded by the run an export sits in (`RUN/export/<v>`); None outside a run."""
    try:
        return RunDir.find(export_dir).config().get("data_source")
    except RunDirError:
        return None


def _record_in_run(export_dir: str, record: dict) -> None:
    """An export inside a finished run: its latency goes into the run's `metrics.json` and model card."""
    try:
        run = RunDir.find(export_dir)
        if run.is_finished and run.metrics_file.is_file():
            card = record_serving_latency(run, record)
            print(f"kzoo: the latency is recorded in {run.metrics_file} and {card}", file=sys.stderr, flush=True)
    except RunDirError:
        return


def serving_benchmark(export_dirs: Iterable[str], eval_data_dir: str | None, emit, calls: int = 1000) -> None:
    """Latency / throughput of each export (and its raw test score with `eval_data_dir`), records to `emit`.

    An export is a SavedModel version folder or one version of a LiteRT / ONNX export
    (`RUN/export/litert/1`: size, latency and throughput through its runtime, `kzoo.runtimes.bench`).

    Every input is checked first (`check_serving_inputs`); each record goes to `emit(record)` as
    soon as it is measured, so a later failure loses nothing measured. The score's record says
    which data it used (`eval_data`) and, for an export inside a run, what the run trained on.
    """
    export_dirs = list(export_dirs)
    eval_data = check_serving_inputs(export_dirs, eval_data_dir)
    for export_dir in export_dirs:
        with progress.step(f"timing {export_dir}: {calls} batch-1 calls, then batch-256 throughput"):
            if portable.is_portable(export_dir):
                record = portable.portable_run(export_dir, calls)
            else:
                record = serving_run(export_dir, serving_inputs(export_dir, 1), serving_inputs(export_dir, 256), calls)
        emit(record)
        if not portable.is_portable(export_dir):
            _record_in_run(export_dir, record)
        if not eval_data_dir:
            continue
        with progress.step(f"scoring {export_dir} on its entry's test split from {eval_data_dir}"):
            record = {**serving_eval.evaluate_export(export_dir, eval_data_dir), "eval_data": eval_data[export_dir]}
        trained_on = _trained_on(export_dir)
        if trained_on:
            record["trained_on"] = trained_on
            if trained_on.get("kind") != eval_data[export_dir]["source"]:
                print(f"kzoo: {export_dir} was trained on {trained_on.get('kind')} data {trained_on.get('name')!r}; "
                      f"scored on {eval_data[export_dir]['source']} {eval_data[export_dir]['name']!r}",
                      file=sys.stderr, flush=True)
        emit(record)
