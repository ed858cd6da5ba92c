"""`export_run` / `export_model`: a zoo model plus its preprocessing -> a versioned SavedModel.

Signatures (their names and the input/output names are the serving contract):

| task                   | signature         | inputs                                  | outputs                                   |
|------------------------|-------------------|-----------------------------------------|-------------------------------------------|
| image_classification   | `serving_default` | `image` uint8 `[None, H, W]`            | `probabilities` f32 `[None, C]`, `label` i64 `[None]` |
|                        | `serve_nhwc`      | `image` uint8 `[None, H, W, 1]`         | same                                      |
| text_classification    | `serving_default` | `text` string `[None]`                  | `probabilities`, `label`                  |
| recommendation         | `serving_default` | `user_id`, `item_id` int64 `[None]` (same length) | `score` f32 `[None]`            |
|                        | `recommend`       | `user_id` int64 `[None]`, `k` int32 `[]` (>= 0) | `item_ids` i64 `[None, k]`, `scores` f32 `[None, k]`, `fallback` bool `[None]` (seen items left out) |
|                        | `recommend_including_seen` | same                            | same                                      |
| seq2seq                | `serving_default` | `text` string `[None]`                  | `translation` string `[None]`             |

The graphs are built with Keras 3's `keras.export.ExportArchive` (no hand-written `tf.Module`
was needed: it tracks the model and the lookup tables of the preprocessing layers, and takes
one endpoint per signature); each Task adds its own (`Task.add_serving_endpoints`, built in
`kzoo/signatures/<task>.py`).
Inputs of the wrong dtype or shape fail with a TensorFlow error (`add_endpoint` adds the shape
check that signature calls lack). Every export also writes `assets.extra/kzoo.json` (entry,
task, quantization, class names, signatures), which TF Serving ignores, the training profile a
server measures drift against (`training_profile.json`, `kzoo.export.profile`), and what the Task adds
there (`Task.write_export_extras`: a recommender's `item_titles.tsv`).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import keras

from kzoo import entry_config, progress
from kzoo.errors import ConfigError, ExportError, ModelFileError, RunDirError, UnknownTaskError, UnsafeFileError
from kzoo.run_config import RunConfig
from kzoo.export.profile import PROFILE_FILE, training_profile
from kzoo.finite import nonfinite_weights, outputs_are_finite
from kzoo.run_dir import LOCK_FILE, RunDir, lock_dir
from kzoo.schema import QUANTIZE_MODES
from kzoo.signatures import signature_summary
from kzoo.tasks import get_task, list_tasks

_TMP_PREFIX = ".tmp-export-"


def next_version(output: str | os.PathLike) -> int:
    """Return the next free version number under `output`: 1 + the largest integer folder, else 1."""
    output = Path(output)
    versions = [int(p.name) for p in output.iterdir() if p.is_dir() and p.name.isdigit()] if output.is_dir() else []
    return max(versions, default=0) + 1


def export_task(name: Any):
    """The `Task` an export (or a config) names; ExportError listing the exportable tasks for any other name.

    Where a task's name comes in from an export's `kzoo.json`: resolved configs carry theirs (`config.task_object`).
    """
    try:
        return get_task(name)
    except UnknownTaskError:
        raise ExportError(f"cannot export task {name!r}; exportable tasks: {', '.join(list_tasks())}") from None


def _check_quantize(quantize: str | None) -> None:
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise ExportError(f"unknown quantize mode {quantize!r}; valid: {', '.join(QUANTIZE_MODES)}")


def quantize_model(model, mode: str):
    """Return `(clone, report)`: a quantized copy of `model` (the original is left untouched).

    `model.quantize(mode)` converts every layer that supports it (Dense, EinsumDense, Embedding)
    and leaves the others in float (LSTM cells, convolutions, normalisation): the export keeps
    what could be quantized and lists both kinds in `report`. A model with no quantizable layer
    raises ExportError.
    """
    _check_quantize(mode)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one "does not support quantization" warning per float layer
        try:
            clone.quantize(mode)
        except ValueError as err:  # e.g. a dtype policy that cannot be quantized
            raise ExportError(f"--quantize {mode}: {str(err).splitlines()[0]}") from None
    quantized, kept_float = [], []
    for layer in clone._flatten_layers(include_self=False):  # the walk `Model.quantize` itself does
        if list(layer._flatten_layers(include_self=False)) or not layer.weights:
            continue  # containers and weightless layers say nothing useful
        (quantized if layer.dtype_policy.quantization_mode == mode else kept_float).append(layer.path)
    if not quantized:
        raise ExportError(f"--quantize {mode}: model {model.name!r} has no layer that supports {mode} quantization")
    return clone, {"mode": mode, "quantized_layers": quantized, "float_layers": kept_float}


def write_version(output: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp)` on a temporary folder inside `output`, then rename it to the next version.

    The export holds `output`'s lock meanwhile (a second exporter gets a RunDirError naming this
    one's PID), so it may remove the `.tmp-export-*` folders a killed export left. On any failure
    the temporary folder is removed (and `output`, when this call created it and it is empty), so
    a half-written SavedModel never appears under a version number.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ExportError(f"export output {str(output)!r} is a file, not a directory")
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    with lock_dir(output):
        for stale in output.glob(_TMP_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            return _write_new_version(output, write, created)
        except Exception as err:
            if not _out_of_space(err):
                raise
            raise ExportError(f"no space left on the device for an export under {output}: nothing was written "
                              "(the previous versions are kept); free some space and export again") from None


def _out_of_space(err: Exception) -> bool:
    """A full disk, as Python (OSError ENOSPC / EDQUOT) or TensorFlow's savers (ResourceExhaustedError) say it."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(words in str(err) for words in ("No space left on device", "Disk quota exceeded"))


def _write_new_version(output: Path, write: Callable[[Path], None], created: bool) -> Path:
    """`write_version` under the lock: `write` into a temporary folder, renamed to the next version."""
    tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=output))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the model from a serving user
        write(tmp)
        for _ in range(100):  # another exporter may take a version number between the two calls
            target = output / str(next_version(output))
            try:
                os.rename(tmp, target)  # fails on a non-empty target: no overwrite
                return target
            except OSError:
                if not target.exists():
                    raise
        raise ExportError(f"could not find a free version number under {output}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created:
            (output / LOCK_FILE).unlink(missing_ok=True)  # ours (held): the folder goes if nothing else is in it
            try:
                output.rmdir()  # only if empty
            except OSError:
                pass
        raise


def check_finite(model, config: Mapping, task) -> None:
    """Refuse a model with non-finite weights, or non-finite outputs on its task's example batch."""
    bad = nonfinite_weights(model)
    if bad:
        raise ExportError(f"refusing to export {config.get('entry')!r}: its weights are not finite "
                          f"({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}); the run diverged")
    inputs, _ = task.example_batch(config, batch_size=4)
    if not outputs_are_finite(model, inputs):
        raise ExportError(f"refusing to export {config.get('entry')!r}: its outputs on an example batch are not "
                          "finite; the run diverged")


def export_model(model, config: Mapping, preprocessor, output: str | os.PathLike, quantize: str | None = None,
                 profile_data: bool = True) -> Path:
    """Export `model` with its `preprocessor` as `output/<next version>/` and return that path.

    Args:
      model: the trained `keras.Model` (float; quantization works on a clone).
      config: the run's resolved config (needs `entry`, `task`, `model`, `data`).
      preprocessor: what `DataBundle.preprocessor` holds for the task (None for images).
      output: the versioned parent folder (TF Serving's model base path).
      quantize: None or "int8" (`model.quantize`, see `quantize_model`).
      profile_data: whether to write `assets.extra/training_profile.json` (`kzoo.export.profile`): the
        export's own signatures on a sample of the training data `config.data_source` records; without
        one (or when it cannot be read) `kzoo.json` says `"training_profile": null` and why.
    Raises ExportError for an unknown task or quantize mode, or a preprocessor that does not fit.
    """
    _check_quantize(quantize)
    task = export_task(config.task)
    check_finite(model, config, task)
    report = None
    if quantize:
        model, report = quantize_model(model, quantize)
    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = task.add_serving_endpoints(archive, model, config, preprocessor)
    _store_each_variable_once(archive)
    metadata = {
        "entry": config.entry,
        "task": config.task,
        "quantization": report,
        "class_names": list(getattr(preprocessor, "class_names", None) or []),
        "signatures": signature_summary(endpoints),
        "export_options": dict(config.get("export") or {}),  # e.g. the translator's beam search
    }
    profile, reason = (training_profile(endpoints, config, task, preprocessor) if profile_data
                       else (None, "not asked for (export_model's profile_data=False)"))
    metadata["training_profile"] = None if profile is None else {
        "file": PROFILE_FILE, **{k: profile["data"][k] for k in ("split", "source", "examples")},
        "signatures": sorted(profile["signatures"])}
    if reason:
        metadata["training_profile_reason"] = reason

    def write(tmp: Path) -> None:
        archive.write_out(str(tmp), verbose=False)
        extra = tmp / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / "kzoo.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        if profile is not None:
            (extra / PROFILE_FILE).write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
        task.write_export_extras(preprocessor, extra)

    return write_version(output, write)


# The Keras releases `_store_each_variable_once` was written against and checked on (tests/test_export.py
# compares the export's stored values with the parameter count).
_DEDUP_CHECKED_ON = ("3.15",)


def _store_each_variable_once(archive) -> None:
    """Point the archive's variable collections at the `tf.Variable`s its endpoints capture.

    Keras 3.15 on TensorFlow writes every weight twice into the SavedModel: `track()` collects the
    `keras.Variable` wrappers, the traced endpoints capture the `tf.Variable`s inside them, and
    TensorFlow dedupes checkpoint objects by identity (keras-team/keras#23553, open; fix proposed in
    #23563, open). Unwrapping the collections halves the export's size and the memory a server loads.
    It touches the archive's private `_tf_trackable`; on a Keras it was not checked on, it warns
    once, and without that attribute the export is written as Keras writes it (only larger).
    """
    release = ".".join(keras.__version__.split(".")[:2])
    trackable = getattr(archive, "_tf_trackable", None)
    if release not in _DEDUP_CHECKED_ON or trackable is None:
        _warn_once(f"kzoo.export: the SavedModel size fix (keras-team/keras#23553) was checked on Keras "
                   f"{', '.join(_DEDUP_CHECKED_ON)}, this is {keras.__version__}"
                   + ("" if trackable is not None else "; ExportArchive has no _tf_trackable, so it is skipped")
                   + ": if the upstream fix landed, remove kzoo.export.core._store_each_variable_once")
    if trackable is None:
        return
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        collection = getattr(trackable, name, None)
        if collection is not None:
            setattr(trackable, name, [getattr(v, "_value", v) for v in collection])


_warned: set = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, stacklevel=3)


def export_run(run: str | os.PathLike, output: str | os.PathLike | None = None, quantize: str | None = None,
               overrides: Sequence[str] = ()) -> Path:
    """Export a finished run (its `model.keras`, `config.yaml`, `preprocessing/`); return the version dir.

    `run` is a run directory or a `.keras` file inside one (e.g. `best.keras`). `output` defaults
    to `<run_dir>/export`; each call writes the next version there. `overrides` ("export.beam_size=4")
    set the run's `export` options for this export only (see `open_run`).
    """
    run_dir, model_file, config = open_run(run, overrides)
    _check_quantize(quantize)
    what = f"exporting {model_file or run_dir.path} as a SavedModel{f' ({quantize})' if quantize else ''}"
    with progress.step(what):
        if keras.backend.backend() != "tensorflow":
            return _export_in_tensorflow_process(run, output, quantize, overrides)
        model = load_run_model(run_dir, model_file)
        return export_model(model, config, run_dir.preprocessor(config), output or run_dir.export_dir, quantize)


def open_run(run: str | os.PathLike, overrides: Sequence[str] = ()):
    """`(RunDir, model file or None, config)` of a finished run directory or a `.keras` file inside one.

    `overrides` ("export.beam_size=4") change the config's `export` section, the serving options an export
    may choose; the other sections describe the trained model and are refused. Raises ExportError (one
    line) when `run` is neither, or ConfigError naming a bad override.
    """
    run = Path(run).expanduser()
    run_dir, model_file = (RunDir(run.parent), run) if run.suffix == ".keras" else (RunDir(run), None)
    try:
        RunDir.open(run_dir.path)
        if model_file is not None and not model_file.is_file():
            raise RunDirError(f"{str(model_file)!r} not found")
        config = run_dir.config()
    except (RunDirError, ConfigError) as err:
        raise ExportError(f"{err}: pass a finished run directory or a .keras file inside one") from None
    return run_dir, model_file, with_export_options(config, overrides)


def with_export_options(config: RunConfig, overrides: Sequence[str]) -> RunConfig:
    """`config` with "export.KEY=VALUE" overrides applied and checked; ConfigError (one line) for any other key."""
    overrides = list(overrides)
    if not overrides:
        return config
    others = [o for o in overrides if not str(o).startswith("export.")]
    if others:
        sections = entry_config.entry_sections(entry_config.get_entry(config.entry))
        valid = ", ".join(f"export.{k}" for k in sections["export"])
        raise ConfigError(f"an export can only set export.* options (the trained model is fixed); got {others[0]!r}; "
                          f"valid for {config.entry}: {valid or 'none'}")
    return entry_config.apply_overrides(config, overrides, config.entry)


def load_run_model(run_dir: RunDir, model_file=None):
    """The run's `model_file` (default `model.keras`); ExportError (one line) when it cannot be loaded."""
    try:
        return run_dir.load_model(model_file)
    except (ModelFileError, UnsafeFileError):
        raise  # one line naming the file already
    except (ValueError, OSError, TypeError) as err:
        raise ExportError(f"cannot load {model_file or run_dir.model_file}: {str(err).splitlines()[0]}") from None


def _export_in_tensorflow_process(run, output, quantize, overrides=()) -> Path:
    """Run `python -m kzoo.export` with `KERAS_BACKEND=tensorflow` and return the version folder it wrote."""
    command = [sys.executable, "-m", "kzoo.export", str(run), *(f"--set={o}" for o in overrides)]
    command += ["--output", str(output)] if output else []
    command += ["--quantize", quantize] if quantize else []
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise ExportError(f"export in a TensorFlow-backend process failed: {lines[-1] if lines else proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])
