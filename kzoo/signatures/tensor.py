"""Tensor-only endpoints: what a portable runtime (LiteRT, ONNX) runs in place of a raw-input signature.

A raw-input signature keeps its preprocessing in the graph (string ops, hash tables) that LiteRT
builtins and ONNX cannot express. Its tensor-only twin takes what that preprocessing produces
(token ids, model indices, pixels) and returns the same outputs; the preprocessing travels as
plain files with a spec (`Task.write_preprocessing_assets`), so a mobile or C++ caller can
reproduce it. Each Task builds its own (`Task.tensor_endpoint`) from the same helpers its
raw-input signature uses, so the two cannot drift apart silently (tests/test_runtimes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import tensorflow as tf


@dataclass
class TensorEndpoint:
    """A tensor-only serving function, its input specs and the batch its parity check runs on.

    fn: called with one keyword argument per spec (the spec's name), returns {output: tensor}.
    specs: named `tf.TensorSpec`s, the batch axis None.
    example: {input name: NumPy array}, the entry's `example_batch` in this endpoint's inputs.
    inputs_of: the model's inputs (a training batch's `x`) -> {input name: array}; None when the
      endpoint's inputs are not the model's (then no training data can calibrate it).
    """

    fn: Callable[..., Mapping[str, tf.Tensor]]
    specs: list
    example: dict
    inputs_of: Callable[[Any], dict] | None = None

    def with_batch(self, batch: int | None) -> list:
        """The specs with the batch axis set to `batch` (None: any batch)."""
        return [tf.TensorSpec([batch, *s.shape[1:]], s.dtype, name=s.name) for s in self.specs]

    def reference(self, inputs: Mapping[str, np.ndarray]) -> dict:
        """{output: NumPy array} of `fn` run in TensorFlow (the Keras model) on `inputs`."""
        outputs = self.fn(**{s.name: tf.constant(inputs[s.name], s.dtype) for s in self.specs})
        return {name: np.asarray(value) for name, value in outputs.items()}


def single_input(model, name: str, outputs: Callable, example) -> TensorEndpoint:
    """The endpoint of a one-input model: `name` (the model's input dtype and shape) -> `outputs(model(x))`.

    `example`: the model's input for the parity check (the task's `example_batch` inputs).
    """
    spec = model.inputs[0]
    specs = [tf.TensorSpec([None, *spec.shape[1:]], spec.dtype, name=name)]
    inputs_of = lambda x: {name: np.asarray(x)}  # noqa: E731
    return TensorEndpoint(lambda **inputs: outputs(model(inputs[name], training=False)), specs, inputs_of(example),
                          inputs_of)
