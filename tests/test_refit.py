"""`train.refit`: validation picks the epoch count, a fresh model trains that long on train + validation."""

import csv
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kzoo.config import ConfigError
from kzoo.tasks import load_data
from kzoo.training import resolve_config, train
from kzoo.training.refit import refit_config, select_epochs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import saved_model_test_metrics  # noqa: E402


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("entry, extra", [
    ("gmf", ["train.epochs=3"]),
    ("mlp", ["train.epochs=3", "train.early_stopping_patience=0"]),
])
def test_refit_trains_the_chosen_epochs_on_train_plus_val_and_scores_that_model(tmp_path, entry, extra, capsys):
    metrics = train(entry, tiny=True, data="synthetic", output=str(tmp_path / "run"), export=False,
                    overrides=["train.refit=true", *extra])
    refit, history = metrics["refit"], metrics["history"]
    assert "kzoo: refit on train + validation: done in " in capsys.readouterr().out  # the phase says when it ends
    monitor = refit["monitor"]
    assert refit["epochs"] == int(np.argmax(history[monitor])) + 1
    assert refit["best_value"] == pytest.approx(max(history[monitor]))
    assert len(_rows(tmp_path / "run" / "refit_history.csv")) == refit["epochs"]
    # model.keras is the refit model (not the selection run's best.keras) and it is what the test scored.
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras")
    best = keras.saving.load_model(tmp_path / "run" / "best.keras")
    assert any(not np.array_equal(a, b) for a, b in zip(saved.get_weights(), best.get_weights()))
    run = tmp_path / "run"
    assert metrics["test"] == pytest.approx(saved_model_test_metrics(run), rel=1e-5, abs=1e-7)
    assert metrics["test"] != pytest.approx(saved_model_test_metrics(run, run / "best.keras"), rel=1e-5, abs=1e-7)


@pytest.mark.smoke
@pytest.mark.parametrize("entry, size_key", [("gmf", "train"), ("mlp", "train")])
def test_refit_config_puts_the_validation_data_back_into_training(entry, size_key):
    config = resolve_config(entry, tiny=True)
    selection = load_data(config, source="synthetic", seed=0)
    refit = load_data(refit_config(config, 2), source="synthetic", seed=0, preprocessor=selection.preprocessor)
    assert refit.val is None and not refit.callbacks
    assert refit.sizes[size_key] > selection.sizes[size_key]
    assert refit_config(config, 2)["train"]["epochs"] == 2


@pytest.mark.parametrize("entry, overrides, fragment", [
    ("transformer_seq2seq", ["train.refit=true"], "not supported for task 'seq2seq'"),
    ("gmf", ["train.refit=true", "data.validation=false"], "set data.validation"),
    ("mlp", ["train.refit=true", "data.val_fraction=0.0"], "set data.val_fraction"),
])
def test_refit_without_a_validation_split_is_refused_before_training(tmp_path, entry, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        train(entry, tiny=True, data="synthetic", output=str(tmp_path / "run"), export=False, overrides=overrides)
    assert not (tmp_path / "run" / "history.csv").exists()


def test_the_epoch_choice_is_recorded_and_a_resumed_run_keeps_it(tmp_path):
    config = resolve_config("gmf", tiny=True)
    record = tmp_path / "refit.json"
    choice = select_epochs(config, {"val_hr@10": [0.2, 0.5, 0.4]}, record)
    assert choice == {"monitor": "val_hr@10", "epochs": 2, "best_value": 0.5}
    # A resumed run reads the record, whatever history it is handed.
    assert select_epochs(config, {"val_hr@10": [0.9]}, record) == choice
    with pytest.raises(ConfigError, match="logged no 'val_hr@10'"):
        select_epochs(config, {"loss": [1.0]}, tmp_path / "other.json")
