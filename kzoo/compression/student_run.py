"""`distill_run()`: train a zoo entry as the student of a finished teacher run (`tools/distill.py`).

The student's run is an ordinary `train()` run: `train` builds the student, `wrap_model` puts it in
a `Distiller` with the teacher for `fit` only, and everything written (model.keras, best.keras,
metrics.json, the export) is the student alone. `distill.teacher` in its config.yaml records the
teacher's run directory. Text students reuse the teacher's `preprocessing/`, so both read the
same token ids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from kzoo import config as config_lib
from kzoo.config import ConfigError
from kzoo.training.run_dir import RunDirError

TASKS = ("image_classification", "text_classification")


def read_teacher(run: str | os.PathLike) -> tuple[Path, dict]:
    """Return `(run_dir, config)` of a finished teacher run; RunDirError/ConfigError when unusable."""
    run_dir = Path(run).expanduser()
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "model.keras").is_file():
        raise RunDirError(f"teacher run {str(run_dir)!r} does not exist or is unfinished (config.yaml and model.keras)")
    config = config_lib.load_yaml(run_dir / "config.yaml")
    if config.get("task") not in TASKS:
        raise ConfigError(f"teacher {config.get('entry')!r} is a {config.get('task')} model; "
                          f"distillation supports {', '.join(TASKS)}")
    return run_dir.resolve(), config


def teacher_preprocessor(run_dir: Path, config: Mapping):
    """The teacher's saved text preprocessor (None for images), checked against its model."""
    if config["task"] != "text_classification":
        return None
    from kzoo.data import load_preprocessor

    if not (run_dir / "preprocessing").is_dir():
        raise ConfigError(f"teacher run {str(run_dir)!r} has no preprocessing/: its vocabulary cannot be shared")
    preprocessor = load_preprocessor(run_dir / "preprocessing")
    if preprocessor.vocabulary_size != int(config["model"]["vocab_size"]):
        raise ConfigError(f"teacher vocabulary in {run_dir / 'preprocessing'} ({preprocessor.vocabulary_size} tokens) "
                          f"does not match its model (vocab_size {config['model']['vocab_size']})")
    return preprocessor


def check_compatible(teacher: Mapping, student: Mapping, preprocessor=None) -> None:
    """Raise ConfigError unless the student reads the teacher's inputs and predicts its classes."""
    name = f"student {student['entry']!r} and teacher {teacher['entry']!r}"
    if student["task"] != teacher["task"]:
        raise ConfigError(f"{name} differ in task: {student['task']} vs {teacher['task']}")
    if student["model"]["num_classes"] != teacher["model"]["num_classes"]:
        raise ConfigError(f"{name} have different output shapes: num_classes "
                          f"{student['model']['num_classes']} vs {teacher['model']['num_classes']}")
    if student["task"] == "image_classification":
        if list(student["model"]["image_shape"]) != list(teacher["model"]["image_shape"]):
            raise ConfigError(f"{name} take different images: image_shape "
                              f"{student['model']['image_shape']} vs {teacher['model']['image_shape']}")
        return
    tokenizer = student["data"].get("tokenizer", "word")
    if preprocessor is not None and tokenizer != preprocessor.tokenizer:
        raise ConfigError(f"{name} have different vocabularies: the student tokenizes with {tokenizer}, the "
                          f"teacher's vocabulary is {preprocessor.tokenizer} ({preprocessor.vocabulary_size} tokens)")
    length = preprocessor.sequence_length if preprocessor is not None else teacher["data"]["sequence_length"]
    if int(student["data"]["sequence_length"]) != int(length):
        raise ConfigError(f"{name} differ in data.sequence_length ({student['data']['sequence_length']} vs "
                          f"{length}); pass --set data.sequence_length={length}")


def _check_models(teacher_model, student_model, name: str) -> None:
    """The built models must agree on the logits' shape (the config check covers the normal cases)."""
    t, s = tuple(teacher_model.outputs[0].shape[1:]), tuple(student_model.outputs[0].shape[1:])
    if t != s:
        raise ConfigError(f"{name}: teacher and student have different output shapes: {t} vs {s}")


def distill_run(teacher: str | os.PathLike, student: str, *, config_path: str | None = None,
                overrides: Iterable[str] | Mapping[str, Any] = (), epochs: int | None = None,
                batch_size: int | None = None, tiny: bool = False, resume: bool = False, **train_kwargs) -> dict:
    """Distil the teacher run `teacher` into a new run of entry `student`; return its metrics.

    The other keyword arguments are `kzoo.training.train`'s (data, strategy, output, ...).
    `distill.temperature` and `distill.alpha` come from the student's config and `overrides`.
    Bad input raises RunDirError or ConfigError with a one-line message before any training.
    """
    import keras

    from kzoo.compression.distill import Distiller
    from kzoo.training.run import resolve_config, train

    teacher_dir, teacher_config = read_teacher(teacher)
    preprocessor = teacher_preprocessor(teacher_dir, teacher_config)
    if not isinstance(overrides, Mapping):
        overrides = dict(config_lib.parse_override(o) for o in overrides)
    overrides = {**overrides, "distill.teacher": str(teacher_dir)}
    if not resume:
        check_compatible(teacher_config, resolve_config(student, config_path, overrides, epochs, batch_size, tiny),
                         preprocessor)

    def wrap_model(net, config):
        recorded = Path(config["distill"]["teacher"] or ".").resolve()
        if recorded != teacher_dir:
            raise ConfigError(f"this run was distilled from {str(recorded)!r}, not {str(teacher_dir)!r}")
        teacher_model = keras.saving.load_model(teacher_dir / "model.keras", compile=False)
        _check_models(teacher_model, net, f"{config['entry']} <- {teacher_config['entry']}")
        return Distiller(net, teacher_model, float(config["distill"]["temperature"]), float(config["distill"]["alpha"]))

    return train(student, config_path=config_path, overrides=overrides, epochs=epochs, batch_size=batch_size,
                 tiny=tiny, resume=resume, preprocessor=preprocessor, wrap_model=wrap_model, **train_kwargs)
