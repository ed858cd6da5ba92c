"""Whether a model is numerically sane: all weights finite, and finite outputs on an example batch.

The trainer refuses to finish a run that fails this (`kzoo.training.divergence`), and the exporter
refuses to write such a model, so the newest version in a serving folder is always a sane model.
"""

from __future__ import annotations

import keras
import numpy as np


def variable_numpy(variable) -> np.ndarray:
    """A Keras Variable's value as a NumPy array.

    `np.array(variable)` (what `keras.ops.convert_to_numpy` does) calls the Variable's `__array__`, or on
    TensorFlow its ResourceVariable's, neither of which takes NumPy 2's `copy` argument: a
    DeprecationWarning per call. TensorFlow's `.numpy()` and a JAX array's own conversion do not warn.
    """
    value = variable.value
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def nonfinite_weights(model: keras.Model) -> list[str]:
    """The paths of `model`'s weights that hold a NaN or an infinity (empty when all are finite)."""
    return [w.path for w in model.weights if not np.all(np.isfinite(variable_numpy(w)))]


def outputs_are_finite(model: keras.Model, inputs) -> bool:
    """Whether `model(inputs)` (inference mode) is finite everywhere."""
    outputs = keras.tree.flatten(model(inputs, training=False))
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(o).astype("float64"))) for o in outputs)
