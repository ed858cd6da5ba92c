"""`RunDir`: the one owner of a run directory's layout — what it holds, and whether it is finished.

    runs/lstm-20261201-120000/
      config.yaml          fully resolved config (every section, runtime included)
      metrics.json         history, test metrics, throughput, strategy, versions
      history.csv          per-epoch log (survives resumes); refit_history.csv for the refit phase
      logs/                TensorBoard
      best.keras           best validation epoch; model.keras: the final (tested, exported) model
      preprocessing/       vocabulary / id maps, reloaded by the entry's Task
      backup/              BackupAndRestore state while the run is going (refit_backup/ for refit)
      refit.json           the refit phase's epoch choice
      curves.png
      export/<version>/    SavedModels (TF Serving layout)

A run is *finished* when it holds `config.yaml` and `model.keras`: the trainer writes
`model.keras` only after the last phase of training. Trainer, exporter, evaluator, pruning
(`prune.from_run`) and distillation (`--teacher`) all ask this class, not the file system.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras

import kzoo.models  # noqa: F401  (registers the custom layers that `.keras` files name)
from kzoo.config import load_yaml
from kzoo.errors import ConfigError
from kzoo.registry import load_run_config
from kzoo.saving import load_keras_file
from kzoo.tasks import get_task

_RESOLVED_KEYS = ("entry", "task", "model")


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists, missing, unfinished, or is a file)."""


def write_json(data: dict, path: Path) -> None:
    """Write JSON atomically (temporary file then rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """A run directory: its files by role, its config, model, preprocessor and exports."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()

    # ------------------------------------------------------------------ the layout
    config_file = property(lambda self: self.path / "config.yaml")
    metrics_file = property(lambda self: self.path / "metrics.json")
    history_file = property(lambda self: self.path / "history.csv")
    refit_history_file = property(lambda self: self.path / "refit_history.csv")
    model_file = property(lambda self: self.path / "model.keras")
    best_file = property(lambda self: self.path / "best.keras")
    preprocessing_dir = property(lambda self: self.path / "preprocessing")
    backup_dir = property(lambda self: self.path / "backup")
    refit_backup_dir = property(lambda self: self.path / "refit_backup")
    refit_record = property(lambda self: self.path / "refit.json")
    logs_dir = property(lambda self: self.path / "logs")
    curves_file = property(lambda self: self.path / "curves.png")
    export_dir = property(lambda self: self.path / "export")

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, output: str | os.PathLike | None, model_name: str, resume: bool, root: str = "runs") -> "RunDir":
        """The run directory a training writes, created if new.

        A new run never reuses a non-empty directory; `resume=True` needs one that holds a
        `config.yaml`. `output=None` names a fresh `runs/<model>-<timestamp>`. Paths that are
        files are refused.
        """
        if output is None:
            if resume:
                raise RunDirError("--resume needs --output DIR naming the run to continue")
            output = os.path.join(root, f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}")
        run = cls(output)
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"output {str(run.path)!r} is a file, not a directory")
        if resume:
            if not run.config_file.is_file():
                raise RunDirError(f"--resume: no run to continue at {str(run.path)!r} (config.yaml not found)")
            return run
        if run.path.exists() and any(run.path.iterdir()):
            raise RunDirError(
                f"output {str(run.path)!r} already holds a run; pass --resume to continue it or choose another --output"
            )
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def open(cls, path: str | os.PathLike, what: str = "run") -> "RunDir":
        """A finished run at `path`; RunDirError naming `what` (e.g. "teacher run") otherwise."""
        run = cls(path)
        if not run.path.exists():
            raise RunDirError(f"{what} {str(run.path)!r} is not a finished run: the directory does not exist")
        if not run.is_finished:
            raise RunDirError(f"{what} {str(run.path)!r} is not a finished run (config.yaml and model.keras)")
        return run

    @classmethod
    def find(cls, path: str | os.PathLike) -> "RunDir":
        """The finished run at `path`, or the one a SavedModel at `path` was exported inside (`RUN/export/<v>`)."""
        path = Path(path).expanduser()
        for candidate in (path, *path.parents):
            if cls(candidate).is_finished:
                return cls(candidate)
            if candidate.name == "export":
                continue
            if candidate != path and not (candidate / "export").is_dir():
                break
        raise RunDirError(
            f"{str(path)!r} is not a finished run directory (config.yaml and model.keras) "
            "nor a SavedModel exported inside one"
        )

    # ------------------------------------------------------------------ what it holds
    @property
    def is_finished(self) -> bool:
        """Whether training wrote its final model (`config.yaml` and `model.keras` are there)."""
        return self.config_file.is_file() and self.model_file.is_file()

    def config(self) -> dict:
        """The run's resolved config, with sections and keys added since it was written filled in.

        ConfigError when `config.yaml` is not a resolved kzoo config.
        """
        try:
            return load_run_config(self.config_file)
        except ConfigError:
            missing = [k for k in _RESOLVED_KEYS if k not in load_yaml(self.config_file)]
            if missing:
                raise ConfigError(f"{self.config_file} lacks {missing}: it is not a resolved kzoo config") from None
            raise

    def metrics(self) -> dict:
        """`metrics.json`, or {} when the run has not written it."""
        if not self.metrics_file.is_file():
            return {}
        return json.loads(self.metrics_file.read_text(encoding="utf-8"))

    def load_model(self, file: str | os.PathLike | None = None, compile: bool = False) -> keras.Model:
        """Load `model.keras` (or another `.keras` file of the run) with Keras's safe mode on.

        UnsafeFileError (one line, exit 2 in the tools) when the file holds a Lambda layer.
        """
        return load_keras_file(Path(file) if file else self.model_file, f"the model of run {str(self.path)!r}:", compile)

    def preprocessor(self, config: dict | None = None):
        """The preprocessor the run saved in `preprocessing/`, reloaded by its Task.

        None for tasks without one (images); the Task raises DataError when its run must hold one
        and does not.
        """
        return get_task(config or self.config()).load_preprocessor(self.preprocessing_dir)

    def export_versions(self) -> list[Path]:
        """The SavedModel version folders under `export/`, oldest first."""
        if not self.export_dir.is_dir():
            return []
        return sorted((p for p in self.export_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
