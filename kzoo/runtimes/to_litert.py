"""LiteRT: a tensor-only endpoint -> `.tflite` bytes (`tf.lite.TFLiteConverter`, builtins only), and its interpreter.

The endpoint is written as a temporary SavedModel first: `from_saved_model` freezes the variables
inside loops too (`from_concrete_functions` with a trackable object leaves `READ_VARIABLE` ops the
interpreter cannot run inside an LSTM's WHILE). Builtins only, so the stock interpreter (ai-edge-litert,
no Flex delegate) runs every export.
"""

from __future__ import annotations

import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from kzoo.errors import ConversionError
from kzoo.runtimes.convert import blocking_op, first_line, positional, unsupported
from kzoo.signatures.tensor import TensorEndpoint

SIGNATURE = "serving_default"
DYNAMIC_RANGE = "dynamic range (tf.lite.Optimize.DEFAULT): int8 weights, float activations"
FULL_INTEGER = ("full integer (tf.lite.Optimize.DEFAULT with a representative dataset of {n} training examples): "
                "int8 weights and activations, float where an op has no int8 kernel; inputs and outputs as in float")


def convert(model, endpoint: TensorEndpoint, batch: int | None, quantize: str | None,
            representative: list | None = None) -> bytes:
    """Return the `.tflite` flatbuffer of `endpoint` (batch axis `batch`); ConversionError naming the op on failure.

    `quantize="int8"` is the converter's dynamic-range quantization, or full-integer calibrated on
    `representative` (a list of {input name: array} batches) when that is given.
    """
    with tempfile.TemporaryDirectory(prefix="kzoo-litert-") as directory:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(SIGNATURE, positional(endpoint), endpoint.with_batch(batch))
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, signature_keys=[SIGNATURE])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize and representative:
            converter.representative_dataset = lambda: iter(representative)
        try:
            with warnings.catch_warnings():
                # TensorFlow's calibrator (full-integer int8) runs its own tf.lite.Interpreter, which warns that it
                # is deprecated in favour of ai-edge-litert's; kzoo runs every export in ai-edge-litert's already.
                warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
                return converter.convert()
        except Exception as err:  # ConverterError, and the MLIR passes' own errors
            op = blocking_op(str(err))
            raise ConversionError(unsupported(op, "LiteRT", "builtin") if op else first_line(err)) from None


def load(content: bytes):
    """A function `{input: array} -> {output: array}` running `content` in the stock LiteRT interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_content=content)
        runner = interpreter.get_signature_runner(SIGNATURE)
    except (ValueError, RuntimeError) as err:
        op = blocking_op(str(err))
        raise ConversionError(f"the LiteRT interpreter cannot load it (op {op})" if op else first_line(err)) from None
    details = runner.get_input_details()

    def run(inputs: dict) -> dict:
        feeds = {name: np.asarray(inputs[name], details[name]["dtype"]) for name in details}
        try:
            return {name: np.array(value) for name, value in runner(**feeds).items()}
        except (ValueError, RuntimeError) as err:
            raise ConversionError(f"the LiteRT interpreter failed: {first_line(err)}") from None

    return run
