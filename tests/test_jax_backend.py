"""`tools/train.py` on Keras's JAX backend: the same entries, the same tf.data pipelines,
`keras.distribution.DataParallel` over two host devices in place of `tf.distribute`.

The backend is fixed per process, so each case runs the tool in a child process with
`KERAS_BACKEND=jax` and `XLA_FLAGS=--xla_force_host_platform_device_count=2`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")  # the `jax` extra: pip install -e ".[dev,jax]" (CI installs it)

ROOT = Path(__file__).resolve().parent.parent


def _train_on_jax(tmp_path, model, *extra):
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               TF_CPP_MIN_LOG_LEVEL="3")
    run = tmp_path / model
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--model", model, "--tiny",
                           "--data", "synthetic", "--epochs", "2", "--strategy", "mirrored", "--output", str(run),
                           *extra], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return run, json.loads((run / "metrics.json").read_text())


SMALL = {  # smaller synthetic sets than the tiny configs' defaults: the JAX runs pay compile time
    "cnn": ["data.synthetic_size=512"],
    "transformer_cls": [],
    "neumf": ["train.batch_size=64"],  # GMF and MLP towers
    "sasrec": [],  # keras-hub attention blocks, batches of varying length
}


@pytest.mark.parametrize("model", sorted(SMALL))
def test_entry_trains_with_data_parallel_on_jax(tmp_path, model):
    sets = [arg for item in SMALL[model] for arg in ("--set", item)]
    _, metrics = _train_on_jax(tmp_path, model, "--no-export", *sets)
    assert metrics["versions"]["backend"] == "jax" and metrics["replicas"] == 2
    loss = metrics["history"]["loss"]
    assert len(loss) == 2 and loss[1] < loss[0]


def test_jax_run_exports_a_savedmodel_that_answers_like_the_keras_model(tmp_path):
    """The export runs in a TensorFlow-backend child process; outputs match the JAX-trained weights."""
    run, metrics = _train_on_jax(tmp_path, "mlp", "--set", "data.synthetic_size=1024")
    assert metrics["versions"]["backend"] == "jax" and metrics["history"]["loss"][1] < metrics["history"]["loss"][0]
    export = Path(metrics["export"])
    assert (export / "saved_model.pb").is_file()
    import keras
    import numpy as np
    import tensorflow as tf

    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(keras.saving.load_model(run / "model.keras", compile=False)(images)))
    served = tf.saved_model.load(str(export)).signatures["serving_default"](image=tf.constant(images[..., 0]))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-5)
