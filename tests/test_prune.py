"""Magnitude pruning: the schedule, the masks, and a pruned run that saves, loads and exports (tiny, synthetic)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.compression.prune import (MagnitudePruning, PolynomialSchedule, magnitude_mask, prunable_weights,
                                    schedule_from_config, sparsity_report)
from kzoo.config import ConfigError
from kzoo.finite import variable_numpy
from kzoo.tasks import example_batch
from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent


def test_polynomial_schedule_at_chosen_steps():
    s = PolynomialSchedule(initial=0.0, target=0.8, begin=10, end=110, frequency=10)
    expected = {0: 0.0, 9: 0.0, 10: 0.0, 60: 0.8 * (1 - 0.5**3), 85: 0.8 * (1 - 0.25**3), 110: 0.8, 1000: 0.8}
    for step, sparsity in expected.items():
        assert s.sparsity(step) == pytest.approx(sparsity), step
    assert [s.last_update(t) for t in (5, 10, 19, 20, 105, 110, 500)] == [None, 10, 10, 20, 100, 110, 110]
    ramp = PolynomialSchedule(initial=0.2, target=0.5, begin=0, end=4, frequency=1)
    assert ramp.sparsity(0) == pytest.approx(0.2) and ramp.sparsity(4) == pytest.approx(0.5)


def test_schedule_from_config_derives_end_step_and_checks_values(tiny_config):
    config = tiny_config("cnn", **{"prune.target_sparsity": 0.5, "prune.begin_step": 4})
    assert schedule_from_config(config, total_steps=100).end == 75  # three quarters of the run
    config = config.override({"prune.end_step": 3})
    with pytest.raises(ConfigError, match="prune.end_step"):
        schedule_from_config(config, 100)
    config = config.override({"prune.end_step": 0, "prune.initial_sparsity": 0.6})
    with pytest.raises(ConfigError, match="initial_sparsity"):
        schedule_from_config(config, 100)
    for value in (1.0, -0.1):
        with pytest.raises(ConfigError, match=r"prune.target_sparsity must be in \[0, 1\)"):
            tiny_config("cnn", **{"prune.target_sparsity": value})


def test_magnitude_mask_zeroes_exactly_the_smallest_weights():
    w = np.array([[0.5, -0.1, 2.0], [-3.0, 0.05, 0.7]], "float32")
    np.testing.assert_array_equal(magnitude_mask(w, 0.5), [[0, 0, 1], [1, 0, 1]])
    assert magnitude_mask(w, 0.0).all() and magnitude_mask(w, 0.0).dtype == np.float32


def test_prunable_weights_cover_dense_conv_embedding_and_lstm_kernels(tiny_config):
    cnn = kzoo.build_from_config(tiny_config("cnn"), compile=False)
    assert [v.path for v in prunable_weights(cnn)] == [
        "block0_conv0/kernel", "block1_conv0/kernel", "dense/kernel", "logits/kernel"]
    lstm = kzoo.build_from_config(tiny_config("lstm"), compile=False)
    paths = {v.path.split("/", 1)[-1] if "bilstm" in v.path else v.path for v in prunable_weights(lstm)}
    assert "embedding/embeddings" in paths and "logits/kernel" in paths
    recurrent = [v.path for v in prunable_weights(lstm) if v.path.endswith("recurrent_kernel")]
    assert len(recurrent) == 2  # forward and backward cells of the Bidirectional layer


def zero_positions(model):
    return {v.path: variable_numpy(v) == 0 for v in prunable_weights(model)}


@pytest.mark.smoke
def test_pruned_weights_stay_zero_through_further_training(tiny_config):
    keras.utils.set_random_seed(0)
    config = tiny_config("lstm")
    model = kzoo.build_from_config(config)
    x, y = example_batch(config, batch_size=32)
    pruning = MagnitudePruning(model, PolynomialSchedule(0.0, 0.7, begin=0, end=4, frequency=2))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[pruning])  # 8 steps: the ramp ends at step 4
    report = sparsity_report(model)
    assert all(s == pytest.approx(0.7, abs=0.02) for s in report["per_layer"].values()), report
    zeros = zero_positions(model)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[pruning])
    for path, was_zero in zero_positions(model).items():
        np.testing.assert_array_equal(was_zero, zeros[path], err_msg=path)
    assert sparsity_report(model)["per_layer"] == report["per_layer"]


def test_excluded_weights_stay_dense_and_are_reported(tiny_config):
    keras.utils.set_random_seed(0)
    config = tiny_config("lstm")
    model = kzoo.build_from_config(config)
    x, y = example_batch(config, batch_size=32)
    pruning = MagnitudePruning(model, PolynomialSchedule(0.0, 0.7, begin=0, end=4, frequency=2), exclude=["logits/*"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[pruning])
    logits = variable_numpy(model.get_layer("logits").kernel)
    assert np.count_nonzero(logits) == logits.size
    report = sparsity_report(model, ["logits/*"])
    assert report["excluded"] == ["logits/kernel"] and "logits/kernel" not in report["per_layer"]
    assert all(s == pytest.approx(0.7, abs=0.02) for s in report["per_layer"].values()), report


def test_exclude_pattern_that_matches_nothing_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"prune.exclude pattern 'logit/\*' matches no prunable weight.*logits/kernel"):
        train("cnn", tiny=True, data="synthetic", output=str(tmp_path / "run"), verbose=0,
              overrides={"prune.target_sparsity": 0.5, "prune.exclude": ["logit/*"]})


def test_pruned_run_saves_loads_and_exports(tmp_path):
    out = tmp_path / "run"
    metrics = train("cnn", tiny=True, data="synthetic", output=str(out), verbose=0,
                    overrides={"data.synthetic_size": 400, "prune.target_sparsity": 0.8, "prune.frequency": 4})
    prune = json.loads((out / "metrics.json").read_text())["prune"]
    assert prune == json.loads(json.dumps(metrics["prune"]))
    assert prune["schedule"]["end"] == 17  # 3/4 of 23 steps (360 examples, batch 16, one epoch)
    assert all(s == pytest.approx(0.8, abs=0.02) for s in prune["sparsity"]["per_layer"].values()), prune
    assert 0 < prune["saved_model"]["gzip_bytes"] < prune["saved_model"]["raw_bytes"]
    loaded = keras.saving.load_model(out / "model.keras")
    assert sparsity_report(loaded) == prune["sparsity"]
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"](image=tf.constant(pixels))
    expected = tf.nn.softmax(loaded(pixels[..., None], training=False)).numpy()
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)


def test_train_tool_rejects_a_sparsity_of_one():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--model", "cnn", "--tiny",
                             "--set", "prune.target_sparsity=1", "--data", "synthetic"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: cnn: prune.target_sparsity must be in [0, 1), got 1.0"


@pytest.mark.parametrize("entry", ["cnn", "lstm"])
def test_pruning_fine_tunes_the_weights_of_a_finished_run(tmp_path, entry):
    small = {"data.synthetic_size": 400}
    train(entry, tiny=True, data="synthetic", output=str(tmp_path / "dense"), export=False, verbose=0, overrides=small)
    metrics = train(entry, tiny=True, data="synthetic", output=str(tmp_path / "pruned"), export=False, verbose=0,
                    overrides={**small, "prune.target_sparsity": 0.5, "prune.from_run": str(tmp_path / "dense"),
                               "train.learning_rate": 1e-7})  # so small that the weights barely move
    assert metrics["prune"]["from_run"] == str(tmp_path / "dense")
    dense = keras.saving.load_model(tmp_path / "dense" / "model.keras")
    pruned = keras.saving.load_model(tmp_path / "pruned" / "model.keras")
    for before, after in zip(prunable_weights(dense), prunable_weights(pruned)):
        before, after = variable_numpy(before), variable_numpy(after)
        kept = after != 0
        assert 0.45 < 1 - kept.mean() < 0.55
        np.testing.assert_allclose(after[kept], before[kept], atol=1e-4)
        assert np.abs(before[~kept]).max() <= np.abs(before[kept]).min() + 1e-4  # the smallest were pruned
    if entry == "lstm":  # the run's token ids are the source run's
        vocabulary = "preprocessing/vocabulary.txt"
        assert (tmp_path / "pruned" / vocabulary).read_text() == (tmp_path / "dense" / vocabulary).read_text()


def test_prune_from_run_must_be_a_finished_run_of_the_same_entry(tmp_path):
    from kzoo.training import RunDirError

    with pytest.raises(RunDirError, match="is not a finished run"):
        train("cnn", tiny=True, data="synthetic", output=str(tmp_path / "a"), verbose=0,
              overrides={"prune.target_sparsity": 0.5, "prune.from_run": str(tmp_path / "nothing")})
    train("cnn_small", tiny=True, data="synthetic", output=str(tmp_path / "small"), export=False, verbose=0,
          overrides={"data.synthetic_size": 200})
    with pytest.raises(ConfigError, match="is a 'cnn_small' run, not 'cnn'"):
        train("cnn", tiny=True, data="synthetic", output=str(tmp_path / "b"), verbose=0,
              overrides={"prune.target_sparsity": 0.5, "prune.from_run": str(tmp_path / "small")})
