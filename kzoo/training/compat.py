"""A narrow fix for Keras 3's TensorFlow trainer under `tf.distribute` (keras-team/keras#20585,
tensorflow/tensorflow#72388).

`TensorFlowTrainer._maybe_symbolic_build` takes the first distributed batch and averages it across
replicas with `strategy.reduce("MEAN", batch, axis=None)` only to learn its shapes and dtypes. That
reduce fails whenever replicas hold different shapes — the last or first batch split unevenly
under MirroredStrategy ("Inputs to operation AddN ... must have the same size and shape"), and
per-worker values under MultiWorkerMirroredStrategy. The build needs one example batch's
structure, not an average, so the patch takes the first local replica's values instead.
Remove this module when the upstream fix lands; `tests/test_compat.py` fails without it.
"""

from __future__ import annotations

import tensorflow as tf
from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
from keras.src import tree

_ORIGINAL = TensorFlowTrainer._maybe_symbolic_build


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


def install() -> None:
    """Patch `TensorFlowTrainer._maybe_symbolic_build` (idempotent)."""
    TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build


def uninstall() -> None:
    """Restore Keras's original method (used by the test that shows the fix is needed)."""
    TensorFlowTrainer._maybe_symbolic_build = _ORIGINAL
