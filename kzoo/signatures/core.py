"""What every serving signature shares: shape-checked endpoints, classifier outputs.

The per-task modules beside this one (`image`, `text`, `recommender`, `translation`) each hold one
`add_endpoints(archive, model, config, preprocessor) -> {signature name: endpoint}` that a Task calls
(`Task.add_serving_endpoints`); `kzoo.export` writes the archive.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

import tensorflow as tf


def add_endpoint(archive, name: str, fn: Callable, specs: list):
    """`archive.add_endpoint(name, fn, specs)`, with every input's shape checked when served.

    Signature calls check dtypes but not shapes: a `[B, 28, 28, 1]` batch would flow into a
    `[B, 28, 28]` graph and could give a wrong answer. `tf.ensure_shape` makes it an error.
    """
    names = list(inspect.signature(fn).parameters)

    @functools.wraps(fn)  # keeps the argument names, which become the signature's input names
    def checked(*args, **kwargs):
        inputs = {**dict(zip(names, args)), **kwargs}
        return fn(**{name: tf.ensure_shape(inputs[name], spec.shape) for name, spec in zip(names, specs)})

    return archive.add_endpoint(name, checked, specs)


def classifier_outputs(logits) -> dict:
    """`{"probabilities": softmax f32 [B, C], "label": argmax i64 [B]}` from logits `[B, C]`."""
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    return {"probabilities": probabilities, "label": tf.argmax(probabilities, axis=-1, output_type=tf.int64)}


def signature_summary(endpoints: Mapping[str, Any]) -> dict:
    """{signature: {"inputs": {name: [dtype, shape]}, "outputs": {...}}} for an export's `kzoo.json`."""

    def spec(t) -> list:
        return [t.dtype.name, None if t.shape.rank is None else [None if d is None else int(d) for d in t.shape]]

    summary = {}
    for name, fn in endpoints.items():
        concrete = fn.get_concrete_function()
        args, kwargs = concrete.structured_input_signature
        inputs = {t.name: spec(t) for t in list(args) + list(kwargs.values())}
        summary[name] = {"inputs": inputs, "outputs": {k: spec(v) for k, v in concrete.structured_outputs.items()}}
    return summary
