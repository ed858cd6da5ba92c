"""Trustworthy runs: a bad command, a bad value or an unsafe model file ends in one line and leaves nothing."""

import subprocess
import sys
import typing
from pathlib import Path

import keras
import pytest

import kzoo
from kzoo.cli import train as train_tool
from kzoo.errors import UnsafeFileError
from kzoo.schema import Activation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trust import finished_run, run_cli  # noqa: E402,F401  (finished_run: a module-scoped fixture)


@pytest.mark.parametrize("args, fragment", [
    (["--set", "model.activation=relux"], "model.activation must be one of"),
    (["--set", "train.optimizer=adamx"], "train.optimizer must be one of"),
    (["--set", "train.schedule=linear"], "train.schedule must be one of"),
    (["--set", "model.hidden_units=[16, -8]"], "model.hidden_units[1] must be > 0"),
    (["--set", "model.hidden_units=[16, eight]"], "model.hidden_units[1]"),
    (["--set", "train.epochs=-3"], "train.epochs"),
    (["--set", "runtime.strategy=gpu"], "runtime.strategy must be one of"),
])
def test_bad_values_are_refused_before_the_run_directory_is_written(tmp_path, capsys, args, fragment):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), *args], capsys)
    assert code == 2 and err.startswith("error: ") and fragment in err and "Traceback" not in err, err
    assert not out.exists()


def test_a_non_utf8_config_file_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model:\n  units: 4\n  name: caf\xe9\n")
    code, _, err = run_cli(["--model", "mlp", "--config", str(bad), "--output", str(tmp_path / "run")], capsys)
    assert code == 2 and "not valid UTF-8" in err and not (tmp_path / "run").exists()


def test_a_path_like_model_name_creates_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["--model", "../../evil", "--tiny", "--data", "synthetic"], capsys)
    assert code == 2 and "unknown model '../../evil'" in err
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent.parent / "evil").exists()


def test_activation_names_are_keras_activations():
    for name in typing.get_args(Activation):
        assert callable(keras.activations.get(name)), name


def _lambda_model(path):
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32") / 255.0)(inputs)
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x))).save(path)


def test_a_lambda_model_file_is_refused_in_one_line_wherever_kzoo_loads_one(finished_run, tmp_path, capsys):
    unsafe = tmp_path / "unsafe_run"
    unsafe.mkdir()
    for name in ("config.yaml", "metrics.json"):
        (unsafe / name).write_bytes((finished_run / name).read_bytes())
    _lambda_model(unsafe / "model.keras")
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(tmp_path / "pruned"),
                            "--set", f"prune.from_run={unsafe}", "--set", "prune.target_sparsity=0.5"], capsys)
    assert code == 2 and "Lambda layer" in err and "Traceback" not in err, err
    evaluate = subprocess.run([sys.executable, "-m", "kzoo.cli.evaluate", str(unsafe), "--data", "synthetic"],
                              capture_output=True, text=True)
    assert evaluate.returncode == 2 and "Lambda layer" in evaluate.stderr and "Traceback" not in evaluate.stderr
    _lambda_model(tmp_path / "gmf.keras")
    with pytest.raises(UnsafeFileError, match="model.pretrained_gmf"):
        kzoo.build("neumf", pretrained_gmf=str(tmp_path / "gmf.keras"), pretrained_mlp=str(tmp_path / "gmf.keras"))


def test_a_full_disk_anywhere_in_a_tool_ends_in_one_line(monkeypatch, capsys):
    import errno

    def full(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/history.csv")

    monkeypatch.setattr(train_tool, "main", full)
    code, _, err = run_cli([], capsys)
    assert code == 2 and err.strip() == ("error: no space left on the device writing /runs/x/history.csv (No space left "
                                         "on device); free some and continue with --resume")
