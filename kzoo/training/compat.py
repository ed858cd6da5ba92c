"""Two narrow fixes for Keras 3's TensorFlow trainer under `tf.distribute` (keras-team/keras#20585,
tensorflow/tensorflow#72388).

1. First batch. 
`TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and averages it across
replicas with `strategy.reduce("MEAN", batch, axis=None)` only to learn its shapes and dtypes. That
reduce fails whenever replicas hold different shapes — the last or first batch split unevenly
under MirroredStrategy ("Inputs to operation AddN ... must have the same size and shape"), and
per-worker values under MultiWorkerMirroredStrategy. The build needs one example batch's
structure, not an average, so the patch takes the first local replica's values instead.

2. Step results under MultiWorkerMirroredStrategy. `reduce_per_replica(..., reduction="mean")` calls
`strategy.reduce("MEAN", value, axis=0)` on each step's metric results; those are scalars, so the
graph fails with "Invalid reduction dimension 0 for input with 0 dimensions". The mean over
replicas of a scalar is `strategy.reduce("MEAN", value, axis=None)`: an all-reduce across all
workers, the same average the single-worker path takes with `tf.reduce_mean` over local replicas.

Remove this module when the upstream fix lands; `tests/test_mirrored.py` and
`tests/test_multi_worker.py` fail without it.
"""

from __future__ import annotations

import os

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

_ORIGINAL = TensorFlowTrainer._maybe_symbolic_build
_ORIGINAL_REDUCE = tf_trainer.reduce_per_replica


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
            data_batch = tree.map_structure(_first_replica, batch)
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and _is_multi_worker(strategy):
        return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _ORIGINAL_REDUCE(values, strategy, reduction)


def install() -> None:
    """Patch the trainer's first-batch build and multi-worker step reduction (idempotent).

    `KZOO_DISABLE_COMPAT=1` leaves Keras as it is; `tests/test_multi_worker.py` uses it to check
    that upstream is still broken (when that test fails, the fixes can go).
    """
    if os.environ.get("KZOO_DISABLE_COMPAT") == "1":
        return
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = _reduce_per_replica


def uninstall() -> None:
    """Restore Keras's originals (used by the tests that show the fixes are needed)."""
    TensorFlowTrainer._maybe_symbolic_build = _ORIGINAL
    tf_trainer.reduce_per_replica = _ORIGINAL_REDUCE
