"""`load(handle)`: a preset (local, hf://, kaggle://) or a run directory as `(compiled model, preprocessor)`;
`load_model(path)`: a run's saved Keras model alone.

    model, preprocessor = kzoo.load("path/to/preset")
    model = kzoo.load_model("runs/lstm-X")            # or runs/lstm-X/best.keras: keras.saving.load_model with
                                                     # kzoo's layers registered
    model, preprocessor = kzoo.build("lstm", preset="hf://org/lstm-imdb")   # checks the entry too
    predict = kzoo.predictor("path/to/preset")       # raw inputs -> what the exported SavedModel returns
    predict(text=["a great film"])["probabilities"]

The model is rebuilt from the preset's config by the entry's own builder and its weights loaded
from `model.weights.h5`: no serialized code is deserialized, so nothing in a downloaded preset runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kzoo.errors import ConfigError, PresetError
from kzoo.presets.files import CONFIG_FILE, Preset, read_preset
from kzoo.presets.hub import resolve_handle
from kzoo.entry_config import apply_overrides, get_entry
from kzoo.run_dir import RunDir
from kzoo.saving import load_keras_file
from kzoo.tasks import compile_model
from kzoo.zoo import build as build_entry
from kzoo.zoo import build_from_config


def open_preset(handle: str | os.PathLike) -> Preset:
    """The checked kzoo preset a handle names (fetched first when remote); PresetError (one line) otherwise."""
    return read_preset(resolve_handle(handle), name=str(handle))


def preset_model(preset: Preset, config: dict | None = None) -> keras.Model:
    """The preset's entry built from `config` (default the preset's) with the preset's weights, uncompiled."""
    model = build_from_config(config or preset.config, compile=False)
    try:
        model.load_weights(preset.weights_file)
    except (ValueError, OSError, KeyError) as err:
        raise PresetError(f"preset {str(preset.path)!r}: its weights do not fit the {preset.entry!r} model its "
                          f"config describes: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return model


def is_kzoo(path: Path) -> bool:
    """Whether the local directory `path` is a kzoo preset or a finished run (not, say, a keras-hub preset)."""
    if RunDir(path).is_finished:
        return True
    try:
        return "entry" in json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _load(handle, config_overrides=None, entry: str | None = None, compile: bool = True,
          path: Path | None = None) -> tuple[keras.Model, Any, dict]:
    path = path or resolve_handle(handle)
    run = RunDir(path)
    if run.is_finished and not (path / CONFIG_FILE).is_file():  # a run directory, not a preset
        config, model, preprocessor = run.config(), run.load_model(), run.preprocessor()
    else:
        preset = read_preset(path, name=str(handle))
        config = preset.config
        model, preprocessor = None, config.task_object.load_preprocessor(preset.preprocessing_dir)
    if entry is not None and get_entry(entry).name != config.entry:
        raise ConfigError(f"{str(handle)!r} is a preset of {config.entry!r}, not of {get_entry(entry).name!r}")
    if config_overrides:
        changed = apply_overrides(config, config_overrides, config.entry)
        if changed.model != config.model:
            raise ConfigError(f"{str(handle)!r}: model.* overrides cannot change a preset's architecture; "
                              "only the other sections (train.learning_rate, ...) may be overridden")
        config = changed
    if model is None:
        model = preset_model(preset, config)
    if compile:
        compile_model(model, config)
    return model, preprocessor, config


def load(handle: str | os.PathLike, compile: bool = True) -> tuple[keras.Model, Any]:
    """`(model, preprocessor)` of a preset (`PATH`, `hf://org/name`, `kaggle://owner/model/keras/variant`) or a run dir.

    The model is compiled with its task's loss and metrics (`kzoo.tasks.compile_model`) unless
    `compile=False`; the preprocessor is the task's (None for image entries). PresetError,
    RunDirError or DataError (one line) when the handle is not a loadable kzoo preset.
    The model's outputs are what it trains on (a classifier's logits); `predictor(handle)` returns
    what the exported SavedModel serves (probabilities and labels) from raw inputs.
    """
    return _load(handle, compile=compile)[:2]


def load_model(path: str | os.PathLike, compile: bool = True) -> keras.Model:
    """The Keras model a run saved: `path` is a `.keras` file (`RUN/model.keras`, `RUN/best.keras`) or a run directory.

    `keras.saving.load_model(path, compile=compile)` (safe mode on) once kzoo's custom layers, losses and
    metrics are registered: this module's imports register every model family and task. After a bare
    `import kzoo`, which registers nothing so that it stays light, Keras alone fails on a run's file with
    "Could not locate class 'MaskedGlobalMaxPooling1D'" (or another kzoo class). Returns the model as
    saved (its optimizer state too when `compile`); `load(RUN)` gives the entry rebuilt with its
    preprocessor instead. RunDirError when a directory is not a finished run; ModelFileError or
    UnsafeFileError (one line) when the file cannot be loaded.
    """
    if Path(path).is_dir():
        return RunDir.open(path).load_model(compile=compile)
    return load_keras_file(path, compile=compile)


class Predictor:
    """A preset or run answering raw inputs as its exported `serving_default` does (see `predictor`)."""

    def __init__(self, model: keras.Model, preprocessor, config: dict):
        self.model, self.preprocessor, self.config = model, preprocessor, config
        self.task = config.task_object
        # The tensor-only endpoint the LiteRT / ONNX exports hold: the same outputs as `serving_default`
        # (its parity is checked at every portable export, tests/test_runtimes.py).
        self.endpoint = self.task.tensor_endpoint(model, config, preprocessor)

    def __call__(self, **raw) -> dict:
        """`serving_default`'s outputs ({name: NumPy array}) for raw inputs named as its inputs
        (`text=[...]`, `image=uint8 [B, 28, 28]`, `user_id=..., item_id=...`)."""
        inputs = self.task.tensor_inputs({k: np.asarray(v) for k, v in raw.items()}, self.preprocessor)
        return self.task.serving_outputs(self.endpoint.reference(inputs), self.preprocessor)


def predictor(handle: str | os.PathLike) -> Predictor:
    """The preset or run `handle` (as `load` takes) as a function of raw inputs giving what its SavedModel serves.

    `kzoo.predictor("presets/lstm-imdb")(text=["a great film"])` -> {"probabilities": [[p_neg, p_pos]], "label": [1]}:
    probabilities where `model.predict` gives logits. Entries without a serving signature (bert_mlm) raise ExportError.
    """
    model, preprocessor, config = _load(handle, compile=False)
    return Predictor(model, preprocessor, config)


def build(name: str, compile: bool = True, preset: str | os.PathLike | None = None, **overrides):
    """`kzoo.build`: a fresh entry (see `kzoo.zoo.build`), or with `preset=` the preset's `(model, preprocessor)`.

    With `preset`, the preset must be one of entry `name` (ConfigError, one line, otherwise);
    `overrides` may change compile settings (`train.learning_rate`), not the architecture. For an
    entry with a `preset` builder argument (a keras-hub backbone's), a preset that is not kzoo's
    is that argument, and a fresh model is returned as without `preset`.
    """
    if preset is None:
        return build_entry(name, compile=compile, **overrides)
    path = resolve_handle(preset)
    if "preset" in get_entry(name).model_section and not is_kzoo(path):
        # Entries built on a keras-hub backbone (bert_cls) take keras-hub's own presets as `model.preset`.
        return build_entry(name, compile=compile, preset=str(preset), **overrides)
    return _load(preset, overrides, entry=name, compile=compile, path=path)[:2]
