"""`--strategy mirrored` across 2 logical CPU devices trains one entry of every model family."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kzoo

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import keras; keras.config.disable_traceback_filtering()
import tensorflow as tf
from kzoo.training.strategy import split_logical_cpus
split_logical_cpus(2)
import kzoo
from kzoo.training import train
results = {}
for name in sys.argv[2:]:
    overrides = {"train.early_stopping_patience": 0}
    if "synthetic_size" in kzoo.get_config(name)["data"]:
        overrides["data.synthetic_size"] = 256
    m = train(name, tiny=True, data="synthetic", epochs=2, strategy="mirrored", seed=0,
              output=f"{sys.argv[1]}/{name}", export=False, verbose=0, overrides=overrides)
    results[name] = {"replicas": m["replicas"], "loss": m["history"]["loss"]}
print("RESULTS " + json.dumps(results))
"""


def one_entry_per_family():
    chosen = {}
    for name in kzoo.list_models():
        chosen.setdefault(kzoo.get_entry(name).family, name)
    return sorted(chosen.values())


@pytest.mark.slow  # ~190 s: one mirrored run per family; the uneven-batch and distill/prune mirrored tests stay in the default run
def test_mirrored_two_replicas_every_family(tmp_path):
    entries = one_entry_per_family()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), *entries],
                            capture_output=True, text=True, env=env, timeout=420)
    assert result.returncode == 0, result.stderr[-4000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULTS "))
    results = json.loads(line.removeprefix("RESULTS "))
    assert sorted(results) == entries
    for name, r in results.items():
        assert r["replicas"] == 2, name
        assert len(r["loss"]) == 2 and all(v == v and v < 1e6 for v in r["loss"]), (name, r["loss"])


UNEVEN = """
import sys
import numpy as np, tensorflow as tf, keras
from kzoo.training.strategy import split_logical_cpus
split_logical_cpus(2)
from kzoo.training import compat
if sys.argv[1] == "patched":
    compat.install()
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
x = np.ones((5, 3), "float32"); y = np.zeros((5, 2), "float32")
# 5 examples in one batch: the replicas get 3 and 2, which Keras's symbolic build cannot average.
print("LOSS", model.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(5), verbose=0))
"""


def test_compat_fix_is_needed_and_works_for_uneven_replica_batches():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    runs = {mode: subprocess.run([sys.executable, "-c", UNEVEN, mode], capture_output=True, text=True,
                                 env=env, timeout=120) for mode in ("original", "patched")}
    assert runs["patched"].returncode == 0, runs["patched"].stderr[-3000:]
    assert "LOSS" in runs["patched"].stdout
    # Without kzoo.training.compat the upstream bug still bites (no upstream issue names it; nearest:
    # keras-team/keras#19246, see compat.py); if this starts passing, Keras has fixed it and compat.py can go.
    assert runs["original"].returncode != 0
    assert "must have the same size and shape" in runs["original"].stderr


def test_compat_warns_once_on_an_untested_keras_version(monkeypatch, recwarn):
    import keras
    from keras.src.backend.tensorflow import trainer as tf_trainer

    from kzoo.training import compat

    # install() patches Keras in this process: restore whatever was there after the test.
    monkeypatch.setattr(tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build",
                        tf_trainer.TensorFlowTrainer._maybe_symbolic_build)
    monkeypatch.setattr(tf_trainer, "reduce_per_replica", tf_trainer.reduce_per_replica)
    monkeypatch.delenv("KZOO_DISABLE_COMPAT", raising=False)
    monkeypatch.setattr(compat, "_warned", False)

    monkeypatch.setattr(keras, "__version__", compat.TESTED_KERAS_VERSIONS[0])
    compat.install()
    assert not [w for w in recwarn if "kzoo.training.compat" in str(w.message)]

    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.warns(RuntimeWarning, match=r"Keras 3\.99\.0 is installed.*may no longer be needed.*"
                                            r"test_multi_worker\.py") as caught:
        compat.install()
        compat.install()
    assert len([w for w in caught if "kzoo.training.compat" in str(w.message)]) == 1
    assert tf_trainer.reduce_per_replica is compat._reduce_per_replica  # still installed
