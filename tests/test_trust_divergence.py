"""Trustworthy runs: a diverged run is a failure, and a model that is not finite is never exported."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.errors import TrainingDiverged
from kzoo.export import ExportError, export_model, export_run
from kzoo.run_dir import RunDir
from kzoo.training import train
from kzoo.finite import nonfinite_weights
from kzoo.training.divergence import loss_growth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trust import finished_run, run_cli  # noqa: E402,F401  (finished_run: a module-scoped fixture)

DIVERGING = ["train.optimizer=sgd", "train.learning_rate=1e6"]


def test_a_run_whose_loss_becomes_nan_fails_is_not_finished_and_exports_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out),
                            *[a for s in DIVERGING for a in ("--set", s)]], capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "Lower the learning rate" in lines[0], err
    assert "Traceback" not in err
    run = RunDir(out)
    assert not run.is_finished and not run.model_file.exists() and not run.export_dir.exists()
    assert not run.best_file.exists()  # its only epoch ended with NaN weights
    record = run.metrics()
    assert record["status"] == "diverged" and "loss became" in record["reason"]
    assert record["epochs_run"] == len(record["history"]["loss"])


def test_best_keras_is_written_only_from_finite_weights(tmp_path, capsys):
    from kzoo.training.callbacks import AtomicModelCheckpoint

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    good = [w.copy() for w in model.get_weights()]
    best = tmp_path / "best.keras"
    checkpoint = AtomicModelCheckpoint(str(best), monitor="val_accuracy", mode="max", save_best_only=True)
    checkpoint.set_model(model)
    model.set_weights([np.full(w.shape, np.nan, w.dtype) for w in good])
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.3})  # the first epoch is always "best"
    assert not best.exists() and "best.keras not written after epoch 1: weights not finite" in capsys.readouterr().err
    model.set_weights(good)
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.2})  # worse than the poisoned epoch's score, yet written
    written = best.read_bytes()
    model.set_weights([np.full(w.shape, np.inf, w.dtype) for w in good])
    checkpoint.on_epoch_end(2, {"val_accuracy": 0.9})
    assert best.read_bytes() == written
    assert not nonfinite_weights(keras.saving.load_model(best))


def test_the_python_api_raises_on_divergence(tmp_path):
    with pytest.raises(TrainingDiverged, match="Nothing was saved"):
        train("mlp", tiny=True, data="synthetic", output=str(tmp_path / "run"), overrides=DIVERGING, verbose=0)


def test_a_finished_run_records_its_status_and_no_loss_growth(finished_run):
    record = RunDir(finished_run).metrics()
    assert record["status"] == "finished" and record["loss_growth"] is None and record["stopped_on_nan"] is None


def test_loss_growth_reports_a_loss_far_above_where_it_started():
    assert loss_growth({"loss": [2.3, 1.1, 0.7]}) is None
    assert loss_growth({"loss": [2.0, 5.0]}) is None  # worse, but not far above
    assert loss_growth({"loss": [1e3, 5e18]}) == {"first": 1e3, "last": 5e18, "ratio": 5e15, "since": "epoch 1"}
    assert loss_growth({"loss": [1.0, float("inf")]})["ratio"] is None
    # Adam at 1e6 blew up within epoch 1 (1e19) and "fell" to 1e17: the first batch is the reference.
    assert loss_growth({"loss": [1e19, 1e17]}) is None
    assert loss_growth({"loss": [1e19, 1e17]}, first_batch_loss=2.3) == {
        "first": 2.3, "last": 1e17, "ratio": 1e17 / 2.3, "since": "the first batch"}
    assert loss_growth({"loss": [1e17]}, first_batch_loss=2.3)["since"] == "the first batch"  # one epoch is enough
    # Trained weights start near 0: pruning them may lift the loss tenfold without diverging.
    assert loss_growth({"loss": [0.6]}, first_batch_loss=0.05) is None


def test_adam_at_a_huge_learning_rate_diverges_without_a_nan_and_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), "--epochs", "2",
                            "--set", "train.optimizer=adam", "--set", "train.learning_rate=1e6"], capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "the training loss rose from" in lines[0], err
    assert "(the first batch)" in lines[0] and "Lower the learning rate" in lines[0]
    run = RunDir(out)
    assert not run.model_file.exists() and not run.export_dir.exists()
    record = run.metrics()
    assert record["status"] == "diverged" and record["loss_growth"]["since"] == "the first batch"


def _poisoned(config, value):
    model = kzoo.build_from_config(config, compile=False)
    model.set_weights([np.full(w.shape, value, w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("value, fragment", [(np.nan, "weights are not finite"), (3e38, "outputs on an example batch")])
def test_export_refuses_a_model_with_nonfinite_weights_or_outputs(tmp_path, value, fragment):
    config = kzoo.get_config("mlp", tiny=True)
    with pytest.raises(ExportError, match=fragment):
        export_model(_poisoned(config, value), config, None, tmp_path / "serving")
    assert not (tmp_path / "serving").exists()


def test_export_run_refuses_a_diverged_model_so_the_newest_version_stays_sane(finished_run, tmp_path):
    serving = tmp_path / "serving"
    good = export_run(finished_run, output=serving)
    config = RunDir(finished_run).config()
    _poisoned(config, np.nan).save(finished_run / "nan.keras")
    with pytest.raises(ExportError, match="not finite"):
        export_run(finished_run / "nan.keras", output=serving)
    assert sorted(p.name for p in serving.iterdir()) == [good.name]


def test_an_int8_export_says_it_is_the_newest_version(finished_run, tmp_path):
    done = subprocess.run([sys.executable, "-m", "kzoo.cli.export", str(finished_run), "--output", str(tmp_path / "s"),
                           "--quantize", "int8"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the int8 export is now the newest version" in done.stderr and done.stdout.strip().endswith("/s/1")
