"""Tasks are objects: a new task is one Task class (here a throwaway one in the test), nothing else edited."""

import ast
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import entries
from kzoo.data import DataBundle
from kzoo.export import export_run
from kzoo.run_dir import RunDir
from kzoo.schema import Key
from kzoo.signatures import add_endpoint
from kzoo.tasks import Task, base, get_task, list_tasks, register_task
from kzoo.training import evaluate_run, train

PACKAGE = Path(kzoo.__file__).resolve().parent
WEIGHTS = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


class ToyRegression(Task):
    """Four features in, one number out: y = x . WEIGHTS (a task kzoo does not ship)."""

    name = "toy_regression"
    monitor, mode = "val_mae", "min"
    main_metrics = ("mae",)
    data_schema = {"val_fraction": Key(float, 0.2, min=0, max=1, max_open=True, doc="held out for validation")}
    validation_key = "data.val_fraction"

    def loss(self):
        return keras.losses.MeanSquaredError()

    def metrics(self):
        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(400, 4)).astype("float32")
        y = x @ WEIGHTS
        n_val = int(300 * float(config["data"]["val_fraction"]))
        parts = {"train": (x[: 300 - n_val], y[: 300 - n_val]), "val": (x[300 - n_val : 300], y[300 - n_val : 300]),
                 "test": (x[300:], y[300:])}
        ds = {k: tf.data.Dataset.from_tensor_slices(v).batch(batch_size) for k, v in parts.items()}
        return DataBundle(train=ds["train"], val=ds["val"] if n_val else None, test=ds["test"], source="synthetic",
                          name="synthetic/toy", sizes={k: len(v[1]) for k, v in parts.items()})

    def example_batch(self, config, batch_size=8, seed=0):
        x = np.random.default_rng(seed).normal(size=(batch_size, 4)).astype("float32")
        return x, x @ WEIGHTS

    def has_validation(self, config):
        return float(config["data"]["val_fraction"]) > 0

    def without_validation(self):
        return {"data.val_fraction": 0.0}

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        def serve(features):
            return {"prediction": tf.reshape(model(features, training=False), [-1])}

        spec = tf.TensorSpec([None, 4], tf.float32, name="features")
        return {"serving_default": add_endpoint(archive, "serving_default", serve, [spec])}


def toy_linear(units: int = 1):
    """A linear model for the throwaway task."""
    inputs = keras.Input((4,), name="features")
    return keras.Model(inputs, keras.layers.Dense(units, name="out")(inputs), name="toy_linear")


TOY_YAML = """
description: a throwaway entry of a throwaway task
model: {units: 1}
data: {val_fraction: 0.2}
train: {optimizer: adam, learning_rate: 0.05, batch_size: 32, epochs: 6, early_stopping_patience: 0}
"""


@pytest.fixture
def toy_task():
    """The throwaway task and its entry, registered for one test only (other tests list every entry)."""
    register_task(ToyRegression)
    kzoo.register_model(task="toy_regression")(toy_linear)
    yield
    base._TASKS.pop("toy_regression")
    entries._ENTRIES.pop("toy_linear")


@pytest.mark.smoke
def test_a_new_task_trains_refits_exports_and_evaluates_through_the_normal_tools(tmp_path, monkeypatch, toy_task):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "toy_linear.yaml").write_text(TOY_YAML)
    monkeypatch.setenv("KZOO_CONFIG_DIR", str(tmp_path / "configs"))
    assert "toy_regression" in list_tasks() and get_task("toy_regression").monitor == "val_mae"

    metrics = train("toy_linear", data="synthetic", output=str(tmp_path / "run"), overrides=["train.refit=true"],
                    verbose=0)
    assert metrics["refit"]["monitor"] == "val_mae" and 1 <= metrics["refit"]["epochs"] <= 6
    assert metrics["test"]["mae"] < metrics["history"]["mae"][0]  # it learned
    run = RunDir(tmp_path / "run")
    assert run.is_finished and run.config()["task"] == "toy_regression"

    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    expected = run.load_model().predict(x, verbose=0).reshape(-1)
    np.testing.assert_allclose(served(features=tf.constant(x))["prediction"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert export_run(run.path).name == "2"  # the exporter knows the task from the run alone
    assert evaluate_run(str(run.path), data="synthetic")["metrics"]["mae"] == pytest.approx(metrics["test"]["mae"],
                                                                                          rel=1e-5)


def _task_name_literals(path: Path, names: set) -> list:
    """(line, value) of every string constant in `path` equal to a task name, docstrings excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings]


def test_no_module_outside_kzoo_tasks_names_a_task():
    """Task names live in their Task classes; models only declare theirs in `@register_model(task=...)`."""
    names = {"image_classification", "text_classification", "seq2seq", "recommendation", "sequential_recommendation"}
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("tasks", "models"):
            continue
        hits = _task_name_literals(path, names)
        if hits:
            found[str(relative)] = hits
    assert not found, f"task names compared outside kzoo/tasks/: {found}"
