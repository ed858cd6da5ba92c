"""The Python API is as quiet as the tools, says what it trains, and serves what the export serves."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kzoo
from kzoo.cli import quiet
from kzoo.training import callbacks as kzoo_callbacks
from kzoo.training.refit import Refit

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("verbose", [pytest.param(False, marks=pytest.mark.smoke), True])
def test_the_api_hides_tensorflows_start_up_lines_unless_verbose(verbose):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KZOO_VERBOSE")}
    env.update(PYTHONPATH=str(ROOT), **({"KZOO_VERBOSE": "1"} if verbose else {}))
    script = "import kzoo\nfrom kzoo.training import train\nprint(kzoo.get_config('mlp')['entry'])"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "mlp", proc.stderr[-3000:]
    noise = [line for line in proc.stderr.splitlines() if quiet.is_noise(line)]
    assert bool(noise) == verbose, proc.stderr


def test_a_refit_run_says_before_training_that_it_trains_twice(capsys):
    Refit().on_data(None, kzoo.get_config("mlp", {"train.epochs": 2, "train.refit": True}))
    assert "up to 4 in all" in capsys.readouterr().out
    Refit().on_data(None, kzoo.get_config("mlp", {"train.epochs": 2, "train.refit": False}))
    assert capsys.readouterr().out == ""


def test_the_estimate_of_a_refit_run_counts_the_refit(monkeypatch, capsys):
    clock = iter([0.0, 10.0, 10.0, 20.0])  # two epochs of 10 s, no validation timing
    monkeypatch.setattr(kzoo_callbacks.time, "perf_counter", lambda: next(clock))
    estimate = kzoo_callbacks.RunTimeEstimate(epochs=4, refit=True)
    estimate.on_epoch_begin(0)
    estimate.on_epoch_end(0)
    estimate.on_epoch_begin(1)
    estimate.on_epoch_end(1)
    assert estimate.remaining_seconds() == (2 + 4) * 10  # 2 epochs left + a refit of at most 4
    assert estimate.remaining_seconds(finished=True) == 2 * 10  # stopped early: the refit has at most 2
    estimate.on_train_end()
    assert capsys.readouterr().err.splitlines() == ["kzoo: epoch 1/4 done; about 1 min left (the refit included)",
                                                    "kzoo: epoch 2/4 done; about 20 s left (the refit included)"]


def test_train_takes_a_request_or_an_entry_with_the_requests_fields_as_keywords():
    from kzoo.training import TrainRequest, train

    with pytest.raises(TypeError, match="unknown flag.s. epoch; valid: config_path, overrides, data, "):
        train("mlp", epoch=1)
    with pytest.raises(TypeError, match="not both"):
        train(TrainRequest("mlp"), epochs=1)


@pytest.mark.smoke
def test_the_predictor_returns_what_the_saved_model_serves_where_the_model_gives_logits(tmp_path):
    import tensorflow as tf

    from kzoo.training import train

    metrics = train("mlp", data="synthetic", tiny=True, output=str(tmp_path / "run"), verbose=0,
                    overrides={"data.synthetic_size": 64})
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"](image=tf.constant(images))
    answer = kzoo.predictor(metrics["run_dir"])(image=images)
    assert set(answer) == {"probabilities", "label"}
    np.testing.assert_allclose(answer["probabilities"], served["probabilities"].numpy(), atol=1e-6)
    np.testing.assert_array_equal(answer["label"], served["label"].numpy())
    np.testing.assert_allclose(answer["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    model, _ = kzoo.load(metrics["run_dir"])
    logits = model.predict(images[..., None], verbose=0)
    assert not np.allclose(logits, answer["probabilities"], atol=1e-3)  # what kzoo.load's docstring says


def test_load_model_opens_a_runs_model_keras_where_keras_alone_cannot_after_import_kzoo(tmp_path):
    from kzoo.training import train

    run = train("lstm", data="synthetic", tiny=True, output=str(tmp_path / "run"), verbose=0, export=False,
                test=False)["run_dir"]
    # A fresh process, as a user's: `import kzoo` registers no layer, so Keras alone cannot rebuild
    # the LSTM's pooling layer; kzoo.load_model can, from the file or the run directory.
    script = ("import sys, keras, kzoo\n"
              "try:\n"
              "    keras.saving.load_model(sys.argv[1] + '/model.keras')\n"
              "except Exception as err:\n"
              "    print('keras:', ' '.join(str(err).split()))\n"
              "for path in (sys.argv[1] + '/model.keras', sys.argv[1]):\n"
              "    model = kzoo.load_model(path)\n"
              "    print('kzoo:', model.get_layer('max_pool').__class__.__name__, model.compiled)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script, run], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("keras: ") and "Could not locate class 'MaskedGlobalMaxPooling1D'" in lines[0], proc.stdout
    assert lines[1:] == ["kzoo: MaskedGlobalMaxPooling1D True"] * 2, proc.stdout
    assert f'kzoo.load_model("{run}")' in (Path(run) / "README.md").read_text(encoding="utf-8")  # the run's card says so
