"""ONNX: a tensor-only endpoint -> `.onnx` bytes (tf2onnx), and an onnxruntime session that runs it.

tf2onnx logs the ops it cannot map and leaves them in the graph; they are caught here, so an
unconvertible model is one line naming its op rather than a graph onnxruntime refuses later.
"""

from __future__ import annotations

import logging

import numpy as np

from kzoo.errors import ConversionError
from kzoo.runtimes.convert import blocking_op, first_line, unsupported, tf_function
from kzoo.signatures.tensor import TensorEndpoint

OPSET = 17


class _Unsupported(logging.Handler):
    """Collects tf2onnx's "Unsupported ops" error records."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def convert(model, endpoint: TensorEndpoint, batch: int | None, quantize: str | None,
            representative: list | None = None) -> bytes:
    """Return the ONNX model (opset `OPSET`) of `endpoint`; ConversionError naming the op on failure (float only)."""
    import tf2onnx

    from kzoo.runtimes import onnx_ops  # noqa: F401  (registers the mappings tf2onnx lacks)

    if quantize:
        raise ConversionError(f"--quantize {quantize} is not available for ONNX exports (they are float)")
    fn, specs = tf_function(endpoint, batch)
    handler = _Unsupported()
    logger = logging.getLogger("tf2onnx")
    logger.addHandler(handler)
    try:
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=specs, opset=OPSET)
    except Exception as err:  # tf2onnx raises whatever its handlers raise
        op = blocking_op(str(err))
        raise ConversionError(unsupported(op, "ONNX", "mapping") if op else first_line(err)) from None
    finally:
        logger.removeHandler(handler)
    # tf2onnx logs a handler that raised ("Failed to convert node") and goes on, leaving the TF op in the graph.
    unmapped = [m for m in handler.messages if "Unsupported ops" in m or "Failed to convert node" in m]
    if unmapped:
        op = blocking_op(unmapped[0])
        raise ConversionError(unsupported(op, "ONNX", "mapping") if op else first_line(unmapped[0]))
    return proto.SerializeToString()


def load(content: bytes):
    """A function `{input: array} -> {output: array}` running `content` in onnxruntime (CPU)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its warnings about unused initializers are not the caller's business
    try:
        session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's own exception types (Fail, InvalidGraph, NotImplemented)
        op = blocking_op(str(err))
        raise ConversionError(f"onnxruntime cannot load it (op {op})" if op else first_line(err)) from None
    types = {i.name: _NUMPY.get(i.type) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]

    def run(inputs: dict) -> dict:
        feeds = {name: np.asarray(inputs[name], dtype) for name, dtype in types.items()}
        try:
            return dict(zip(names, session.run(names, feeds)))
        except Exception as err:
            raise ConversionError(f"onnxruntime failed: {first_line(err)}") from None

    return run


_NUMPY = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
          "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(double)": np.float64}
