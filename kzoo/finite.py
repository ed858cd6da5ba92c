"""Whether a model is numerically sane: all weights finite, and finite outputs on an example batch.

The trainer refuses to finish a run that fails this (`kzoo.training.divergence`), and the exporter
refuses to write such a model, so the newest version in a serving folder is always a sane model.
"""

from __future__ import annotations

import keras
import numpy as np


def nonfinite_weights(model: keras.Model) -> list[str]:
    """The paths of `model`'s weights that hold a NaN or an infinity (empty when all are finite)."""
    # `w.value` (the backend tensor): NumPy's conversion of the Variable itself calls its `__array__`,
    # which takes no `copy` argument and warns once per weight under NumPy 2.
    return [w.path for w in model.weights if not np.all(np.isfinite(keras.ops.convert_to_numpy(w.value)))]


def outputs_are_finite(model: keras.Model, inputs) -> bool:
    """Whether `model(inputs)` (inference mode) is finite everywhere."""
    outputs = keras.tree.flatten(model(inputs, training=False))
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(o).astype("float64"))) for o in outputs)
