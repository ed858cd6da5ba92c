"""Two narrow fixes for Keras 3's TensorFlow trainer under `tf.distribute`.

Written and tested for Keras 3.15.1 (with TensorFlow 2.21): `TESTED_KERAS_VERSIONS`. They patch
private Keras code (`keras.src.backend.tensorflow.trainer` has no public equivalent), so
`install()` warns once when another Keras version is installed.

1. First batch. `TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and
averages it across replicas with `strategy.reduce("MEAN", batch, axis=None)` only to learn its
shapes and dtypes. That reduce fails whenever replicas hold different shapes — the last or first
batch split unevenly under MirroredStrategy ("Inputs to operation AddN ... must have the same size
and shape"), and per-worker values under MultiWorkerMirroredStrategy. The build needs one example
batch's structure, not an average, so the patch takes the first local replica's values instead.
Upstream: no live issue names this cause. The nearest, keras-team/keras#19246 (open), reports in
a 2024-07 comment the same eager AddN error under MirroredStrategy for a batch split 1/0 across
two replicas.

2. Step results under MultiWorkerMirroredStrategy. `reduce_per_replica(..., reduction="mean")` calls
`strategy.reduce("MEAN", value, axis=0)` on each step's metric results; those are scalars, so the
graph fails with "Invalid reduction dimension 0 for input with 0 dimensions". The mean over
replicas of a scalar is `strategy.reduce("MEAN", value, axis=None)`: an all-reduce across all
workers, the same average the single-worker path takes with `tf.reduce_mean` over local replicas.
Upstream: keras-team/keras#20585 (open, "Does Keras 3 work with
`tf.distribute.MultiWorkerMirroredStrategy`?"); tensorflow/tensorflow#72388, which first reported
the error, was closed as stale and pointed to the Keras repository.

Remove this module when the upstream fix lands; `tests/test_mirrored.py` and
`tests/test_multi_worker.py` fail without it, and each has a test that fails once upstream works.
"""

from __future__ import annotations

import os
import warnings

import keras
import tensorflow as tf

# Private: the trainer and its module-level reduce function are what Keras's fit/evaluate call.
from keras.src.backend.tensorflow import trainer as tf_trainer
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

TESTED_KERAS_VERSIONS = ("3.15.1",)

_ORIGINAL = TensorFlowTrainer._maybe_symbolic_build
_ORIGINAL_REDUCE = tf_trainer.reduce_per_replica
_warned = False


def _first_replica(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0] if hasattr(value, "values") else value
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return _ORIGINAL(self, iterator=iterator, data_batch=data_batch)
    if iterator is not None:
        for _, _, it in iterator:
            batch = next(it)
            data_batch = keras.tree.map_structure(_first_replica, batch)
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _is_multi_worker(strategy) -> bool:
    # `_in_multi_worker_mode` is private TensorFlow API: a MultiWorkerMirroredStrategy without a
    # cluster runs on one worker, where Keras's own reduction works.
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and _is_multi_worker(strategy):
        return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _ORIGINAL_REDUCE(values, strategy, reduction)


def check_keras_version() -> None:
    """Warn once if the installed Keras is not one the patches were tested for."""
    global _warned
    if _warned or keras.__version__ in TESTED_KERAS_VERSIONS:
        return
    _warned = True
    warnings.warn(
        f"kzoo.training.compat patches Keras internals tested on Keras {', '.join(TESTED_KERAS_VERSIONS)}, "
        f"but Keras {keras.__version__} is installed: the patches may no longer be needed or may not apply; "
        "check with `pytest tests/test_multi_worker.py -k upstream_keras_still_fails` (fails once upstream works)",
        RuntimeWarning,
        stacklevel=3,  # the caller of install()
    )


def install() -> None:
    """Patch the trainer's first-batch build and multi-worker step reduction (idempotent).

    `KZOO_DISABLE_COMPAT=1` leaves Keras as it is; `tests/test_multi_worker.py` uses it to check
    that upstream is still broken (when that test fails, the fixes can go).
    """
    if os.environ.get("KZOO_DISABLE_COMPAT") == "1":
        return
    check_keras_version()
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_per_replica


def uninstall() -> None:
    """Restore Keras's originals (used by the tests that show the fixes are needed)."""
    TensorFlowTrainer._maybe_symbolic_build = _ORIGINAL
    tf_trainer.reduce_per_replica = _ORIGINAL_REDUCE
