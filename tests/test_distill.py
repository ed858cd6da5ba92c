"""Distillation: the Distiller's loss, training a student, and tools/distill.py end to end (tiny, synthetic)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

import kzoo
from kzoo.compression import Distiller, soft_target_kl
from kzoo.training import distill_run
from kzoo.config import ConfigError
from kzoo.tasks import compile_model, example_batch
from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _runs import saved_model_test_metrics, tiny_config, tiny_run  # noqa: E402

SMALL_DATA = ["data.synthetic_size=400"]  # 360 train / 40 val / 100 test examples: a few seconds per run


def tiny_model(name, **overrides):
    config = tiny_config(name, **overrides)
    return config, kzoo.build_from_config(config, compile=False)


def distiller(alpha, temperature=3.0, seed=0):
    keras.utils.set_random_seed(seed)
    config, student = tiny_model("cnn_small")
    _, teacher = tiny_model("cnn")
    model = Distiller(student, teacher, temperature=temperature, alpha=alpha)
    compile_model(model, config)
    x, y = example_batch(config, batch_size=16, seed=seed)
    return model, config, x, y


def test_alpha_one_gives_the_plain_loss():
    model, _, x, y = distiller(alpha=1.0)
    logits = model(x, training=False)
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    np.testing.assert_allclose(model.compute_loss(x, y, logits, training=False), plain, rtol=1e-6)


def test_loss_mixes_hard_and_soft_terms():
    model, _, x, y = distiller(alpha=0.3, temperature=4.0)
    logits = model(x, training=False)
    hard = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, logits)
    p = tf.nn.softmax(model.teacher(x, training=False) / 4.0).numpy().astype("float64")
    q = tf.nn.softmax(logits / 4.0).numpy().astype("float64")
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))
    np.testing.assert_allclose(model.compute_loss(x, y, logits, training=False), 0.3 * hard + 0.7 * 16 * kl, rtol=1e-4)


def test_kl_term_is_zero_when_student_logits_equal_the_teacher_logits():
    logits = np.random.default_rng(0).normal(size=(8, 10)).astype("float32") * 5
    assert abs(float(soft_target_kl(logits, logits, 2.0))) < 1e-6
    assert float(soft_target_kl(logits, logits[::-1], 2.0)) > 0.1
    config, student = tiny_model("cnn_small")
    teacher = keras.models.clone_model(student)
    teacher.set_weights(student.get_weights())
    model = Distiller(student, teacher, temperature=2.0, alpha=0.0)
    compile_model(model, config)
    x, y = example_batch(config, batch_size=8)
    assert abs(float(model.compute_loss(x, y, model(x, training=False), training=False))) < 1e-5


@pytest.mark.smoke
def test_distiller_lowers_its_loss_and_leaves_the_teacher_alone():
    model, _, x, y = distiller(alpha=0.5)
    model.optimizer.learning_rate = 0.01
    teacher_before = [w.copy() for w in model.teacher.get_weights()]
    losses = model.fit(x, y, epochs=25, batch_size=16, verbose=0, shuffle=False).history["loss"]
    assert min(losses[-3:]) < 0.7 * losses[0], losses
    for before, after in zip(teacher_before, model.teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not model.teacher.trainable and model.trainable_weights == model.student.trainable_weights


@pytest.mark.parametrize("temperature, alpha, fragment", [(0.0, 0.5, "temperature must be > 0"),
                                                          (2.0, 1.5, "alpha must be in [0, 1]")])
def test_distiller_rejects_bad_settings(temperature, alpha, fragment):
    _, student = tiny_model("cnn_small")
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        Distiller(student, student, temperature=temperature, alpha=alpha)


@pytest.fixture(scope="module")
def cnn_teacher(tmp_path_factory):
    return tiny_run(tmp_path_factory, "cnn", overrides=SMALL_DATA, export=False)


def run_distill(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, str(ROOT / "tools" / "distill.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_distill_tool_writes_a_normal_student_run(cnn_teacher, tmp_path):
    out = tmp_path / "student"
    result = run_distill(["--teacher", str(cnn_teacher), "--student", "cnn_small", "--tiny", "--data", "synthetic",
                          "--set", SMALL_DATA[0], "--set", "distill.temperature=4", "--output", str(out)])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["model"] == "cnn_small" and summary["teacher"] == str(cnn_teacher.resolve())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["entry"] == "cnn_small"
    assert config["distill"] == {"teacher": str(cnn_teacher.resolve()), "temperature": 4.0, "alpha": 0.1}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distill"]["teacher"] == str(cnn_teacher.resolve())
    assert metrics["test"] == pytest.approx(saved_model_test_metrics(out), rel=1e-5, abs=1e-7)  # the student's own
    for name in ("model.keras", "best.keras"):  # the student alone, not the Distiller
        saved = keras.saving.load_model(out / name)
        assert saved.name == "cnn_small" and saved.count_params() == metrics["parameters"]
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    served = tf.saved_model.load(str(out / "export" / "1")).signatures["serving_default"](image=tf.constant(pixels))
    expected = tf.nn.softmax(saved(pixels[..., None], training=False)).numpy()
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)

    from kzoo.training.evaluate import evaluate_run

    assert evaluate_run(str(out), data="synthetic")["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"])


def test_text_student_shares_the_teacher_vocabulary(tmp_path):
    teacher = tmp_path / "lstm"
    train("lstm", tiny=True, data="synthetic", overrides=SMALL_DATA, output=str(teacher), export=False, verbose=0)
    out = tmp_path / "student"
    metrics = distill_run(teacher, "lstm_small", tiny=True, data="synthetic", overrides=SMALL_DATA + ["units=4"],
                          output=str(out), verbose=0)
    for name in ("vocabulary.txt", "preprocessor.json"):
        assert (out / "preprocessing" / name).read_text() == (teacher / "preprocessing" / name).read_text()
    student = keras.saving.load_model(out / "model.keras")
    assert student.get_layer("embedding").input_dim == yaml.safe_load((teacher / "config.yaml").read_text())["model"]["vocab_size"]
    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"](text=tf.constant(["a fine film", ""]))
    assert served["probabilities"].shape == (2, 2)


def test_a_student_config_cannot_be_trained_without_its_teacher(tmp_path):
    with pytest.raises(ConfigError, match="tools/distill.py"):
        train("cnn_small", tiny=True, data="synthetic", overrides={"distill.teacher": "runs/x"},
              output=str(tmp_path / "run"), verbose=0)


@pytest.fixture(scope="module")
def lstm_teacher(tmp_path_factory):
    return tiny_run(tmp_path_factory, "lstm", overrides=SMALL_DATA, export=False)


@pytest.fixture(scope="module")
def teacher_with_bad_vocabulary(lstm_teacher):
    out = lstm_teacher.parent / "bad_vocabulary"
    shutil.copytree(lstm_teacher, out)
    vocabulary = out / "preprocessing" / "vocabulary.txt"
    vocabulary.write_text("\n".join(vocabulary.read_text().splitlines()[:-3]) + "\n")
    return out


@pytest.mark.parametrize("teacher, args, fragment", [
    (None, ["--student", "cnn_small"], "does not exist"),
    ("cnn_teacher", ["--student", "cnn_small", "--set", "model.num_classes=5"],
     "different output shapes: num_classes 5 vs 10"),
    ("cnn_teacher", ["--student", "lstm_small"], "differ in task"),
    ("cnn_teacher", ["--student", "cnn_small", "--set", "distill.temperature=0"], "distill.temperature must be > 0"),
    ("cnn_teacher", ["--student", "cnn_small", "--set", "distill.alpha=1.5"], "distill.alpha must be in [0, 1]"),
    ("cnn_teacher", ["--student", "cnn_small", "--set", "distill.alpha=-0.1"], "distill.alpha must be in [0, 1]"),
    ("cnn_teacher", ["--student", "cnn_small", "--set", "prune.target_sparsity=1.0"],
     "prune.target_sparsity must be in [0, 1)"),
    ("lstm_teacher", ["--student", "bert_cls"], "different vocabularies"),
    ("lstm_teacher", ["--student", "lstm_small", "--set", "data.sequence_length=30"], "differ in data.sequence_length"),
    ("teacher_with_bad_vocabulary", ["--student", "lstm_small"], "does not match its model"),
])
def test_bad_input_exits_2_with_one_error_line(request, tmp_path, teacher, args, fragment):
    teacher_dir = request.getfixturevalue(teacher) if teacher else tmp_path / "no-such-run"
    out = tmp_path / "student"
    result = run_distill(["--teacher", str(teacher_dir), *args, "--tiny", "--data", "synthetic", "--output", str(out)])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and fragment in lines[-1], lines
    assert "Traceback" not in result.stderr
    assert not out.exists(), "bad input must be rejected before a run directory is created"


BACKEND_SCRIPT = """
import keras, numpy as np
import kzoo
from kzoo.compression import Distiller
from kzoo.compression.prune import MagnitudePruning, PolynomialSchedule, sparsity_report
from kzoo.tasks import compile_model, example_batch
keras.utils.set_random_seed(0)
tiny = {"model.filters": [4, 8], "model.convs_per_block": 1, "model.dense_units": 16, "model.batch_norm": False}
config = kzoo.get_config("cnn_small", tiny)
student, teacher = (kzoo.build_from_config(kzoo.get_config(n, tiny), compile=False) for n in ("cnn_small", "cnn"))
model = Distiller(student, teacher, temperature=2.0, alpha=0.5)
config = config.override({"train.learning_rate": 0.01})
compile_model(model, config)
x, y = example_batch(config, batch_size=16)
pruning = MagnitudePruning(student, PolynomialSchedule(0.0, 0.5, begin=0, end=10, frequency=5))
losses = model.fit(x, y, epochs=20, batch_size=16, verbose=0, callbacks=[pruning]).history["loss"]
print("RESULT", keras.backend.backend(), losses[0], min(losses[-3:]), sparsity_report(student)["overall"])
"""


def test_distiller_and_pruning_fit_on_the_jax_backend():
    pytest.importorskip("jax")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="jax", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    backend, first, last, sparsity = next(l for l in result.stdout.splitlines() if l.startswith("RESULT")).split()[1:]
    assert backend == "jax" and float(last) < 0.95 * float(first) and abs(float(sparsity) - 0.5) < 0.01


MIRRORED_SCRIPT = """
import json, sys
from kzoo.training.strategy import split_logical_cpus
split_logical_cpus(2)
from kzoo.training import distill_run
from kzoo.training import train
small = {"data.synthetic_size": 256}
train("cnn", tiny=True, data="synthetic", output=sys.argv[1] + "/teacher", export=False, verbose=0, overrides=small)
m = distill_run(sys.argv[1] + "/teacher", "cnn_small", tiny=True, data="synthetic", strategy="mirrored", verbose=0,
                output=sys.argv[1] + "/student", export=False, overrides={**small, "prune.target_sparsity": 0.5})
print("RESULT " + json.dumps({"replicas": m["replicas"], "loss": m["history"]["loss"], "sparsity": m["prune"]["sparsity"]["overall"]}))
"""


def test_distill_and_prune_under_mirrored_strategy(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    r = json.loads(next(l for l in result.stdout.splitlines() if l.startswith("RESULT ")).removeprefix("RESULT "))
    assert r["replicas"] == 2 and all(v == v for v in r["loss"]) and r["sparsity"] == pytest.approx(0.5, abs=0.01)
