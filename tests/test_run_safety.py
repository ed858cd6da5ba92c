"""One writer per run directory and serving folder; files replaced whole or not at all; damaged backups.

Faults are injected into real `tools/train.py` / `tools/export.py` processes by small wrapper scripts
(`_tool_with`) that patch one function before the tool runs: a pause, a full disk, a `kill -9` halfway
through a write.
"""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import kzoo
from kzoo.cli import export as export_cli
from kzoo.cli import train as train_cli
from kzoo.errors import RunDirError
from kzoo.plugin import RunPlugin
from kzoo.run_dir import RunDir, lock_dir
from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _runs import make_run, tiny_config  # noqa: E402
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
MLP = ["--model", "mlp", "--tiny", "--data", "synthetic", "--no-export"]


def _tool_with(tmp_path: Path, tool: str, patch: str) -> list[str]:
    """The command of `kzoo.cli.<tool>` run after `patch` (Python source) is executed in its process."""
    script = tmp_path / f"{tool}_with_fault.py"
    script.write_text(
        f"import errno, os, signal, sys, time\nfrom pathlib import Path\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"import keras\n{patch}\nfrom kzoo.cli.{tool} import run\nrun()\n")
    return [sys.executable, str(script)]


def _run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300, **kwargs)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the process ended first: {proc.stdout.read()[-3000:]}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear in time")
        time.sleep(0.1)


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def _epochs(run: Path) -> list[int]:
    text = (run / "history.csv").read_text()
    assert text.count("epoch,") == 1, text  # one header: one writer
    return [int(row["epoch"]) for row in csv.DictReader(text.splitlines())]


def _tmp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".tmp-*"))


# ---------------------------------------------------------------------- one writer per run directory
@pytest.mark.slow  # two subprocess trainings and a kill -9; test_a_second_export_is_refused covers the lock quickly
def test_a_second_trainer_is_refused_and_a_killed_trainers_lock_does_not_block_resume(tmp_path, capsys):
    run, ready = tmp_path / "run", tmp_path / "ready"
    args = MLP + ["--epochs", "3", "--set", "train.early_stopping_patience=0", "--output", str(run)]
    pause = (f"from kzoo.training import callbacks\nbegin = callbacks.ThroughputTimer.on_epoch_begin\n"
             f"def paused(self, epoch, logs=None):\n"
             f"    if epoch == 1:\n        Path({str(ready)!r}).touch()\n        time.sleep(300)\n"
             f"    begin(self, epoch, logs)\n"
             f"callbacks.ThroughputTimer.on_epoch_begin = paused")
    first = subprocess.Popen(_tool_with(tmp_path, "train", pause) + args, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        _wait_for(ready, first)  # epoch 1 is backed up and logged; the first trainer holds the run
        second = _run([sys.executable, str(ROOT / "tools" / "train.py")] + args)
        assert second.returncode == 2
        assert f"pid {first.pid}" in _error_line(second.stderr)
        with pytest.raises(SystemExit) as resumed:  # --resume is refused the same way
            train_cli.run(args + ["--resume"])
        assert resumed.value.code == 2 and f"pid {first.pid}" in _error_line(capsys.readouterr().err)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert (run / ".lock").read_text().split()[0] == str(first.pid)  # the dead trainer's lock file stays

    resumed = _run([sys.executable, str(ROOT / "tools" / "train.py")] + args + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 1/3" not in resumed.stdout and "Epoch 3/3" in resumed.stdout
    assert _epochs(run) == [0, 1, 2]
    assert not (run / ".lock").exists()


class _TryTheLock(RunPlugin):
    """Tries to take the run directory's lock from inside `fit`, as a second writer would."""

    def __init__(self, run: Path):
        self.run, self.refusals = run, []

    def callbacks(self, net, config, total_steps):
        plugin = self

        class Try(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                try:
                    lock_dir(plugin.run).release()
                    plugin.refusals.append(None)
                except RunDirError as err:
                    plugin.refusals.append(str(err))

        return [Try()]


def test_the_trainer_holds_the_run_directorys_lock_until_it_ends(tmp_path):
    run = tmp_path / "run"
    attempt = _TryTheLock(run)  # flock: another open file description of .lock conflicts, in this process too
    train("mlp", tiny=True, data="synthetic", output=str(run), export=False, verbose=0, plugins=[attempt])
    (refusal,) = attempt.refusals
    assert refusal is not None and f"is in use by pid {os.getpid()}" in refusal
    assert not (run / ".lock").exists()
    lock_dir(run).release()  # free again once the run ended


# ---------------------------------------------------------------------- one writer per serving folder
def _finished_run(path: Path) -> Path:
    config = tiny_config("mlp")
    return make_run(path, kzoo.build_from_config(config, compile=False), config)


def test_a_second_export_is_refused_and_a_killed_exports_leftovers_are_removed(tmp_path, capsys):
    run, serving, ready = _finished_run(tmp_path / "run"), tmp_path / "serving", tmp_path / "ready"
    hang = ("def hang(self, path, **kwargs):\n    (Path(path) / 'saved_model.pb').write_bytes(b'half')\n"
            f"    Path({str(ready)!r}).touch()\n    time.sleep(300)\n"
            "type(keras.export.ExportArchive()).write_out = hang  # the backend's class (Keras 3.15 __new__)")
    first = subprocess.Popen(_tool_with(tmp_path, "export", hang) + [str(run), "--output", str(serving)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        _wait_for(ready, first)  # halfway through writing its SavedModel
        with pytest.raises(SystemExit) as second:
            export_cli.run([str(run), "--output", str(serving)])
        assert second.value.code == 2 and f"pid {first.pid}" in _error_line(capsys.readouterr().err)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert len(_tmp_files(serving)) == 1  # what the killed export left

    with pytest.raises(SystemExit) as third:
        export_cli.run([str(run), "--output", str(serving)])
    assert third.value.code == 0 and capsys.readouterr().out.strip() == str(serving / "1")
    assert sorted(p.name for p in serving.iterdir()) == ["1"]


# ---------------------------------------------------------------------- a full disk
def _full_disk_on_save_call(n: int) -> str:
    """Patch: the `n`-th `Model.save` writes part of its file, then fails as a full disk does."""
    return ("calls = []\nsave = keras.Model.save\n"
            "def full(self, filepath, *args, **kwargs):\n    calls.append(filepath)\n"
            f"    if len(calls) == {n}:\n        Path(filepath).write_bytes(b'half a model')\n"
            "        raise OSError(errno.ENOSPC, 'No space left on device')\n"
            "    return save(self, filepath, *args, **kwargs)\n"
            "keras.Model.save = full\n")


@pytest.mark.slow  # two subprocess trainings; test_a_failed_save_leaves_the_previous_model_file covers it in-process
@pytest.mark.parametrize("failing, epochs, extra_patch", [
    ("model.keras", 1, ""),  # saves: best.keras after epoch 1, then model.keras (fails)
    # Every epoch improves, so best.keras is saved again after epoch 2 (and fails then).
    ("best.keras", 3, "keras.callbacks.ModelCheckpoint._is_improvement = lambda self, value, best: True"),
])
def test_a_full_disk_exits_2_naming_the_file_and_keeps_the_good_one(tmp_path, failing, epochs, extra_patch):
    run = tmp_path / "run"
    command = _tool_with(tmp_path, "train", _full_disk_on_save_call(2) + extra_patch)
    result = _run(command + MLP + ["--epochs", str(epochs), "--output", str(run)])
    assert result.returncode == 2, result.stderr[-3000:]
    line = _error_line(result.stderr)
    assert str(run / failing) in line and "No space left on device" in line
    assert keras.saving.load_model(run / "best.keras").count_params() > 0  # the epoch-1 file, whole
    assert not (run / "model.keras").exists() and not RunDir(run).is_finished
    assert _tmp_files(run) == []


def test_a_failed_save_leaves_the_previous_model_file(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    run = RunDir(tmp_path)
    run.save_model(model)
    good = run.model_file.read_bytes()

    def full(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full)
    with pytest.raises(RunDirError, match="model.keras: No space left on device"):
        run.save_model(model)
    assert run.model_file.read_bytes() == good and _tmp_files(tmp_path) == []


# ---------------------------------------------------------------------- backups
class _Interrupted(Exception):
    pass


class _StopAfterFirstEpoch(RunPlugin):
    """Ends `fit` as a crash would once epoch 1 is backed up (its backup stays: no `on_train_end`)."""

    def callbacks(self, net, config, total_steps):
        class Stop(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    raise _Interrupted()

        return [Stop()]


def _truncate_weights(backup: Path) -> None:
    (weights,) = [p for p in backup.glob("*.weights.h5") if not p.name.startswith(".")]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _corrupt_metadata(backup: Path) -> None:
    (backup / "training_metadata.json").write_text('{"epoch": 1, ')


def _garbage_inside_weights(backup: Path) -> None:
    """Bytes overwritten in the middle: still a whole HDF5 file that Keras loads, as garbage weights."""
    (weights,) = [p for p in backup.glob("*.weights.h5") if not p.name.startswith(".")]
    data = bytearray(weights.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 512] = bytes(range(256)) * 2
    weights.write_bytes(bytes(data))


def _another_hdf5_file(backup: Path) -> None:
    (weights,) = [p for p in backup.glob("*.weights.h5") if not p.name.startswith(".")]
    with h5py.File(weights, "w") as file:
        file.create_dataset("x", data=np.zeros(3))


@pytest.mark.parametrize("damage", [_truncate_weights, _corrupt_metadata, _garbage_inside_weights, _another_hdf5_file])
def test_a_damaged_backup_exits_2_with_a_hint(tmp_path, damage):
    run = tmp_path / "run"
    with pytest.raises(_Interrupted):
        train("mlp", tiny=True, data="synthetic", epochs=3, output=str(run), export=False, verbose=0,
              overrides={"train.early_stopping_patience": 0}, plugins=[_StopAfterFirstEpoch()])
    damage(run / "backup")
    result = _run([sys.executable, str(ROOT / "tools" / "train.py")] + MLP
                  + ["--epochs", "3", "--set", "train.early_stopping_patience=0", "--output", str(run), "--resume"])
    assert result.returncode == 2, result.stderr[-3000:]
    line = _error_line(result.stderr)
    assert "damaged" in line and str(run / "backup") in line
    assert "new --output" in line and str(run / "best.keras") in line


@pytest.mark.slow  # two subprocess trainings with a real SIGKILL (about a minute)
def test_a_kill_during_a_backup_write_keeps_the_previous_backup(tmp_path):
    run = tmp_path / "run"
    args = MLP + ["--epochs", "3", "--set", "train.early_stopping_patience=0", "--output", str(run)]
    kill = ("calls = []\nsave_weights = keras.Model.save_weights\n"
            "def killed(self, filepath, *args, **kwargs):\n    calls.append(filepath)\n"
            "    if len(calls) == 2:  # the backup after epoch 2, halfway\n"
            "        Path(filepath).write_bytes(b'half the weights')\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    return save_weights(self, filepath, *args, **kwargs)\n"
            "keras.Model.save_weights = killed")
    killed = _run(_tool_with(tmp_path, "train", kill) + args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    resumed = _run([sys.executable, str(ROOT / "tools" / "train.py")] + args + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 1/3" not in resumed.stdout and "Epoch 2/3" in resumed.stdout  # from epoch 1's backup
    assert _epochs(run) == [0, 1, 2]
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 3
