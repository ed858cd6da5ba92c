"""`train()`: one zoo entry end to end — config, data, strategy, fit, test, run directory."""

from __future__ import annotations

import csv
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import keras
import numpy as np
import tensorflow as tf

import kzoo
from kzoo import config as config_lib
from kzoo.tasks import compile_model, get_task
from kzoo.training import callbacks as kzoo_callbacks
from kzoo.training import compat
from kzoo.training.cluster import (
    ReadOnlyBackupAndRestore, WorkerRole, remove_scratch, scratch_dir, weights_digest, without_auto_shard,
    worker_batch_size, worker_role,
)
from kzoo.training.run_dir import RunDirError, plot_curves, prepare_run_dir, write_json
from kzoo.training.strategy import get_jax_distribution, get_strategy


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; with `deterministic`, enable op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def set_mixed_precision(enabled: bool) -> str:
    """Set the global Keras dtype policy and return its name.

    `mixed_float16` on GPU, `mixed_bfloat16` on CPU/TPU; models keep float32 logits.
    """
    if not enabled:
        keras.mixed_precision.set_global_policy("float32")
    else:
        if keras.backend.backend() == "jax":
            import jax

            gpu = jax.default_backend() == "gpu"
        else:
            gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    return keras.mixed_precision.global_policy().name


def resolve_config(
    model: str,
    config_path: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    epochs: int | None = None,
    batch_size: int | None = None,
    tiny: bool = False,
) -> dict:
    """Resolve an entry's config: defaults or `config_path`, the `tiny` overrides, `--set`s, flags."""
    entry = kzoo.get_entry(model)
    merged: dict[str, Any] = {}
    if tiny:
        raw = config_lib.load_yaml(config_path or config_lib.find_config_file(entry.config_file))
        merged.update(raw.get("tiny", {}))
    if not isinstance(overrides, Mapping):
        overrides = dict(config_lib.parse_override(o) for o in overrides)
    merged.update(overrides)
    # Flags left at None keep the file's (or the tiny section's) values.
    merged.update({k: v for k, v in {"train.epochs": epochs, "train.batch_size": batch_size}.items() if v is not None})
    return kzoo.get_config(entry.name, merged, config_path)


def _fit_model_to_data(config: dict, bundle) -> None:
    """Copy sizes only the data knows (vocabulary, user/item counts) into the model config."""
    overrides = getattr(bundle.preprocessor, "model_overrides", None)
    if callable(overrides):
        config["model"].update(overrides())


def _make_callbacks(run_dir: Path, config: dict, bundle, timer, verbose: int,
                    write_dir: Path | None = None, role: WorkerRole = WorkerRole()) -> list:
    """Return the fit callbacks; files go to `write_dir` (the run dir on the chief, scratch elsewhere)."""
    write_dir = write_dir or run_dir
    backup = keras.callbacks.BackupAndRestore if role.is_chief else ReadOnlyBackupAndRestore
    task = get_task(config["task"])
    has_val = bundle.val is not None or bool(bundle.callbacks)
    monitor, mode = (task.monitor, task.mode) if has_val else ("loss", "min")
    train = config["train"]
    callbacks = list(bundle.callbacks)  # first: they add metrics (val_hr@10) the others read
    callbacks += [
        backup(str(run_dir / "backup")),  # every worker restores from the chief's backup
        kzoo_callbacks.TerminateOnNaNWithAdvice(float(train.get("learning_rate", 0)) or None),
        keras.callbacks.CSVLogger(str(write_dir / "history.csv"), append=True),
        keras.callbacks.ModelCheckpoint(
            str(write_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.TensorBoard(str(write_dir / "logs")),
        timer,
    ]
    patience = int(train.get("early_stopping_patience", 0))
    if patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True)
        )
    if verbose == 2:
        callbacks.append(kzoo_callbacks.EpochLine(int(train["epochs"])))
    return callbacks


def _read_history(path: Path) -> dict:
    """Per-epoch values from the CSV log, which survives resumes (Keras's History does not)."""
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


def _versions() -> dict:
    import keras_hub

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "kzoo": kzoo.__version__,
        "backend": keras.backend.backend(),
    }


def train(
    model: str,
    *,
    config_path: str | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    data: str = "auto",
    data_dir: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    strategy: str = "auto",
    mixed_precision: bool = False,
    jit_compile: bool = False,
    seed: int = 0,
    deterministic: bool = False,
    output: str | None = None,
    resume: bool = False,
    tiny: bool = False,
    export: bool = True,
    verbose: int | None = None,
    preprocessor=None,
    wrap_model=None,
) -> dict:
    """Train a zoo entry and return its `metrics.json` content (also written to the run dir).

    The keyword arguments mirror `tools/train.py`'s flags. Raises ConfigError, UnknownModelError,
    RunDirError, StrategyError or a data error with a one-line message on bad input.
    Two hooks serve `kzoo.compression.distill_run`: `preprocessor` (a fitted one to reuse, e.g. a
    teacher's vocabulary) and `wrap_model(net, config) -> keras.Model`, called in the strategy
    scope; the wrapper (a Distiller) is what `fit` trains, `net` is what is evaluated, saved, exported.
    """
    # The strategy comes first: MultiWorkerMirroredStrategy must configure collectives before TF runs anything.
    dist = get_strategy(strategy) if keras.backend.backend() == "tensorflow" else get_jax_distribution(strategy)
    role = worker_role(dist)
    if role.count > 1 and output is None:
        raise RunDirError("--strategy multi_worker needs --output DIR: one run directory every worker can reach")
    if role.is_chief or resume:
        run_dir = prepare_run_dir(output, model, resume)
    else:
        run_dir = Path(output)  # the chief creates and checks it
    # Only the chief writes the run directory; other workers write into scratch, removed at the end.
    write_dir = run_dir if role.is_chief else scratch_dir(role)
    if resume:
        config = config_lib.load_yaml(run_dir / "config.yaml")
    else:
        config = resolve_config(model, config_path, overrides, epochs, batch_size, tiny)
    set_seed(seed, deterministic)
    policy = set_mixed_precision(mixed_precision)
    from kzoo.compression import hooks as compression

    compression.check_config(config, wrap_model)
    from kzoo.training.refit import RefitPhase, check_refit

    check_refit(config)
    compat.install()
    verbose = verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)

    from kzoo.data import load_preprocessor

    preprocessing_dir = run_dir / "preprocessing"
    # A resumed run keeps the vocabulary / id maps its checkpoints were trained with.
    saved = (load_preprocessor(preprocessing_dir) if resume and preprocessing_dir.is_dir()
             else compression.preprocessor(config, preprocessor))
    bundle = load_worker_data(config, role, data, data_dir, seed, saved)
    print(f"kzoo: {config['entry']} on {bundle.source} data '{bundle.name}' {bundle.sizes}", flush=True)
    _fit_model_to_data(config, bundle)
    if bundle.preprocessor is not None:
        bundle.preprocessor.save(write_dir / "preprocessing")
    config_lib.dump_yaml(config, write_dir / "config.yaml")

    if keras.backend.backend() == "jax" and not jit_compile:
        jit_compile = True  # JAX has no graph mode: without jit every op of every step runs eagerly
    steps_per_epoch = int(bundle.train.cardinality().numpy())
    net, fit_model = build_for_fit(config, dist, steps_per_epoch, jit_compile, wrap_model)
    total_steps = steps_per_epoch * int(config["train"]["epochs"]) if steps_per_epoch > 0 else None
    timer = kzoo_callbacks.ThroughputTimer(int(bundle.sizes.get("train_examples_per_epoch", bundle.sizes["train"])))
    callbacks = _make_callbacks(run_dir, config, bundle, timer, verbose, write_dir, role)
    if hasattr(dist, "prepare_train"):  # JAX backend: keras.distribution instead of tf.distribute
        bundle.train = dist.prepare_train(bundle.train)
        callbacks = dist.callbacks() + callbacks
    callbacks += compression.callbacks(net, config, total_steps)
    # The chief's record, read by every worker: a resumed refit skips the finished selection phase on all of them.
    refit_file = run_dir / "refit.json"
    started = time.perf_counter()
    if not (resume and refit_file.is_file()):
        fit_model.fit(bundle.train, validation_data=bundle.val, epochs=int(config["train"]["epochs"]),
                callbacks=callbacks, verbose=1 if verbose == 1 else 0, shuffle=False)
    train_seconds = time.perf_counter() - started
    refit_info = None
    if config["train"].get("refit"):
        phase = RefitPhase(config, role, run_dir, write_dir, data, data_dir, seed, jit_compile, verbose)
        refit_info = phase.select_epochs(_read_history(write_dir / "history.csv"), refit_file)
        set_seed(seed, deterministic)
        net, refit_seconds = phase.fit(dist, bundle.preprocessor, wrap_model, refit_info["epochs"])
        refit_info["train_seconds"] = round(refit_seconds, 3)
        train_seconds += refit_seconds

    net.save(write_dir / "model.keras")
    # Multi-worker: each worker scores the test split on a local copy, without collectives, so the
    # number is exact (a distributed evaluate averages per-worker ratios) and identical on all workers.
    scorer = _local_copy(write_dir / "model.keras", config) if role.count > 1 else net
    test = bundle.evaluate(scorer, "test") if bundle.evaluate else scorer.evaluate(bundle.test, return_dict=True, verbose=0)
    history = _read_history(write_dir / "history.csv")
    if role.count > 1:
        print(f"kzoo: worker {role.index} of {role.count} final weights sha256 {weights_digest(net)}", flush=True)
    nan_stop = next((c.message for c in callbacks if isinstance(c, kzoo_callbacks.TerminateOnNaNWithAdvice)), None)
    metrics = {
        "model": config["entry"],
        "run_dir": str(run_dir),
        "data": bundle.summary(),
        "epochs_run": len(history.get("loss", [])),
        "epochs_requested": int(config["train"]["epochs"]),
        "history": history,
        "test": {k: float(v) for k, v in test.items()},
        "train_seconds": round(train_seconds, 3),
        "train_examples_per_sec": timer.examples_per_sec,
        "strategy": strategy,
        "replicas": dist.num_replicas_in_sync,
        "workers": role.count,
        "dtype_policy": policy,
        "jit_compile": bool(fit_model.jit_compile),  # as compiled: flag, config or backend
        "seed": seed,
        "deterministic": deterministic,
        "parameters": int(net.count_params()),
        "stopped_on_nan": nan_stop,
        "refit": refit_info,
        "versions": _versions(),
        **compression.run_metrics(net, config, total_steps),
    }
    if not role.is_chief:
        remove_scratch(write_dir)
        return metrics
    write_json(metrics, run_dir / "metrics.json")
    plot_curves(history, get_task(config["task"]).monitor.removeprefix("val_"), run_dir / "curves.png")
    if export:
        from kzoo.export import export_run

        metrics["export"] = str(export_run(run_dir))
        compression.export_metrics(metrics, metrics["export"])
        write_json(metrics, run_dir / "metrics.json")
    return metrics


def load_worker_data(config: dict, role: WorkerRole, data: str, data_dir: str | None, seed: int, preprocessor=None):
    """Load this worker's `DataBundle` for `config` (its training shard, whole val/test splits)."""
    from kzoo.data import load_data

    bundle = load_data(config, source=data, data_dir=data_dir, seed=seed,
                       batch_size=worker_batch_size(config, role), preprocessor=preprocessor, shard=role.shard)
    if role.shard:
        # Training: each worker already holds its own shard; tf.distribute must not shard it again.
        # Validation/test: every worker reads the whole split (the metrics are all-reduced, so the
        # result is exact); auto-sharding a tfds split by FILE fails when it has fewer files than workers.
        bundle.train, bundle.val, bundle.test = (
            None if ds is None else without_auto_shard(ds) for ds in (bundle.train, bundle.val, bundle.test))
    return bundle


def build_for_fit(config: dict, dist, steps_per_epoch: int, jit_compile: bool, wrap_model=None):
    """Build and compile the entry in `dist`'s scope; return `(net, fit_model)`.

    `net` is the zoo model (evaluated, saved, exported); `fit_model` is what `fit` trains: `net`
    itself, or `wrap_model(net, config)` (a Distiller). `prune.from_run` weights are loaded into `net`.
    """
    from kzoo.compression import hooks as compression

    steps = steps_per_epoch if steps_per_epoch > 0 else None
    with dist.scope():
        net = kzoo.build_from_config(config, compile=False)
        compression.init_weights(net, config)  # prune.from_run: fine-tune a trained model
        compile_model(net, config, steps_per_epoch=steps, jit_compile=jit_compile)
        fit_model = wrap_model(net, config) if wrap_model else net
        if fit_model is not net:
            compile_model(fit_model, config, steps_per_epoch=steps, jit_compile=jit_compile)
    return net, fit_model


def _local_copy(model_file: Path, config: dict) -> keras.Model:
    """Load `model_file` under the default (non-distributed) strategy and compile it for evaluation."""
    local = keras.saving.load_model(model_file, compile=False)
    compile_model(local, config)
    return local
