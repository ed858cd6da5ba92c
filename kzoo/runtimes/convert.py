"""What both converters share: the positional function of a tensor-only endpoint, a refusal's one-line message."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from typing import Iterator

import tensorflow as tf

from kzoo.signatures.tensor import TensorEndpoint


def positional(endpoint: TensorEndpoint):
    """`endpoint.fn` as a function of positional tensors, in the order of its specs (what `tf.function` needs)."""
    names = [spec.name for spec in endpoint.specs]
    return lambda *args: dict(endpoint.fn(**dict(zip(names, args))))


def tf_function(endpoint: TensorEndpoint, batch: int | None):
    """`(tf.function, specs)` of `endpoint` with its batch axis set to `batch` (None: any)."""
    specs = endpoint.with_batch(batch)
    return tf.function(positional(endpoint), input_signature=specs, autograph=False), specs


_OP_PATTERNS = (r"TF Select ops: ([\w, ]+)", r"Unsupported ops: Counter\(\{'(\w+)'", r"'tf\.(\w+)' op",
                r"failed to legalize operation 'tf\.(\w+)'", r"No Op registered for (\w+)",
                r"Could not find an implementation for (\w+)")


def blocking_op(message: str) -> str | None:
    """The op a converter's or runtime's message says it cannot handle, or None."""
    for pattern in _OP_PATTERNS:
        found = re.search(pattern, message)
        if found:
            return found.group(1).strip()
    return None


def unsupported(op: str, runtime: str, kind: str) -> str:
    """`op X has no <runtime> <kind>`, or `ops X, Y have no ...` for a list."""
    return f"op{'s' if ',' in op else ''} {op} {'have' if ',' in op else 'has'} no {runtime} {kind}"


def first_line(message: str) -> str:
    """The first non-blank line of `message`, cut to 200 characters."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return (lines[0] if lines else "")[:200]


@contextlib.contextmanager
def converter_output_captured() -> Iterator[None]:
    """Keep the converters' diagnostics off the caller's stderr while inside.

    The MLIR converter writes every failed pattern to file descriptor 2 from C++ (dozens of
    `loc(callsite(...))` lines, also for the attempts `export_runtime` retries), and TensorFlow's
    Python logger warns about tables tf2onnx cannot serialise; the exception carries what
    matters, so both are held back (descriptor 2 goes to a temporary file, then is restored).
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            logger.setLevel(level)
