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
      .lock                held by the process writing the run (see `DirLock`)

A run is *finished* when it holds `config.yaml` and `model.keras`: the trainer writes
`model.keras` only after the last phase of training. Trainer, exporter, evaluator, pruning
(`prune.from_run`) and distillation (`--teacher`) all ask this class, not the file system.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import keras

import kzoo.models  # noqa: F401  (registers the custom layers that `.keras` files name)
from kzoo.config import load_yaml
from kzoo.errors import ConfigError, RunDirError
from kzoo.entry_config import load_run_config
from kzoo.saving import load_keras_file

_RESOLVED_KEYS = ("entry", "task", "model")
LOCK_FILE = ".lock"


def write_json(data: dict, path: Path) -> None:
    """Write JSON atomically (temporary file then rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Run `write(tmp)` on a temporary file beside `path`, then rename it to `path`.

    A crash or a full disk never leaves half a file under `path`: the previous one stays. An
    OSError (ENOSPC, EACCES, ...) becomes a one-line RunDirError naming `path`. The temporary name
    keeps `path`'s ending (`.tmp-<pid>-best.keras`), which Keras's savers check.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            kept = f"; the previous {path.name} is kept" if path.exists() else ""
            raise RunDirError(f"cannot write {path}: {err.strerror or err}{kept}") from err
        raise
    for stale in path.parent.glob(f".tmp-*-{path.name}"):  # a killed writer's (the directory's lock is ours)
        stale.unlink(missing_ok=True)


class DirLock:
    """An exclusive `flock` on `DIRECTORY/.lock`, which holds the holder's PID and command: one writer per directory.

    The kernel drops the lock when its process dies, so a `kill -9`'d writer's lock file blocks nobody.
    `release()` (or leaving the `with` block) unlocks and removes the file.
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "DirLock":
        """Take the lock; RunDirError naming the holder's PID when another process holds it."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise RunDirError(f"cannot lock {self.path.parent}: {err.strerror or err}") from err
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise RunDirError(f"cannot lock {self.path.parent}: {err.strerror or err}") from err
                raise RunDirError(f"{self.path.parent} is in use by {self._holder()}: one process writes it at a "
                                  "time; wait for that one to end, or choose another --output") from None
            # A holder that let go between our open and flock removed that file: lock the one now at the path.
            if self.path.exists() and os.path.samestat(os.fstat(fd), os.stat(self.path)):
                break
            os.close(fd)
        command = " ".join(sys.argv).replace("\n", " ")[:300]
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {command}\n".encode())
        self._fd = fd
        return self

    def _holder(self) -> str:
        """`pid N (command)` from the lock file; the holder writes it just after locking, so wait a moment."""
        for _ in range(40):
            try:
                pid, _, command = self.path.read_text(encoding="utf-8", errors="replace").strip().partition(" ")
            except OSError:
                pid = ""
            if pid:
                return f"pid {pid} ({command})"
            time.sleep(0.05)
        return "another process"

    def release(self) -> None:
        """Remove the lock file and unlock (no-op when not held)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking, so a waiter never locks a file about to go
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "DirLock":
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class Undo:
    """What creating a new run directory adds to the file system, so a refused run can take it back.

    Recorded just before the directory is made: the highest folder of its path that does not
    exist yet (removed whole), or, for a folder that exists (empty but for a stale lock), the names
    already in it (kept; everything else the run wrote is removed).
    """

    def __init__(self, path: Path):
        self.path = path
        missing = [p for p in (path, *path.parents) if not p.exists()]
        self.top = missing[-1] if missing else None
        self.before = set() if missing else {p.name for p in path.iterdir() if p.name != LOCK_FILE}

    def __call__(self) -> None:
        """Remove what the run created under `path` (and `path` itself and its new parents, if it made them)."""
        if self.top is not None:
            shutil.rmtree(self.top, ignore_errors=True)
            return
        for entry in self.path.iterdir():
            if entry.name in self.before:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def lock_dir(directory: str | os.PathLike) -> DirLock:
    """Hold `directory`'s lock (see `DirLock`); RunDirError naming the holder's PID when it is taken."""
    return DirLock(directory).acquire()


class RunDir:
    """A run directory: its files by role, its config, model, preprocessor and exports."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        # Set by `create` for a new run: takes back what the run wrote when it is refused (see `Undo`).
        self.undo: Undo | None = None

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
        `config.yaml`. A new run's `undo` removes what it created (see `Undo`). `output=None` names a fresh `runs/<model>-<timestamp>`. Paths that are
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
        if run.path.exists() and any(p.name != LOCK_FILE for p in run.path.iterdir()):
            if (run.path / LOCK_FILE).exists():
                lock_dir(run.path).release()  # a run being written says who writes it
            raise RunDirError(
                f"output {str(run.path)!r} already holds a run; pass --resume to continue it or choose another --output"
            )
        run.undo = Undo(run.path.absolute())
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"cannot create output {str(run.path)!r}: {err.strerror or err}") from None
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

    def save_model(self, model: keras.Model, file: str | os.PathLike | None = None) -> None:
        """Save `model` as `model.keras` (or `file`) whole or not at all (`write_atomically`)."""
        write_atomically(Path(file) if file else self.model_file, lambda tmp: model.save(tmp, overwrite=True))

    def lock(self) -> DirLock:
        """Hold this run's lock for as long as the returned `DirLock` is not released (see `DirLock`)."""
        return lock_dir(self.path)

    def preprocessor(self, config: dict | None = None):
        """The preprocessor the run saved in `preprocessing/`, reloaded by its Task.

        None for tasks without one (images); the Task raises DataError when its run must hold one
        and does not.
        """
        return (config or self.config()).task_object.load_preprocessor(self.preprocessing_dir)

    def export_versions(self) -> list[Path]:
        """The SavedModel version folders under `export/`, oldest first."""
        if not self.export_dir.is_dir():
            return []
        return sorted((p for p in self.export_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
