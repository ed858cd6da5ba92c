"""Loading `.keras` files the user names, with Keras's safe mode on and a one-line refusal.

Every `.keras` file kzoo loads (a run's model, `prune.from_run`, a distillation teacher, NeuMF's
`model.pretrained_gmf` / `pretrained_mlp`) goes through `load_keras_file`: Keras's default
`safe_mode=True` refuses `Lambda` layers (arbitrary code); kzoo turns that `ValueError` into
`UnsafeFileError` naming the file, which the tools report in one line with exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from kzoo.errors import UnsafeFileError

# Keras 3.15's wording for a refused Lambda (keras/src/layers/core/lambda_layer.py).
_SAFE_MODE_REFUSAL = "safe_mode=False"


def load_keras_file(path: str | os.PathLike, what: str = "model file", compile: bool = False) -> keras.Model:
    """`keras.saving.load_model(path, compile=compile)` in safe mode; UnsafeFileError names a refused file."""
    path = Path(path)
    try:
        return keras.saving.load_model(path, compile=compile)
    except ValueError as err:
        if _SAFE_MODE_REFUSAL in str(err):
            raise UnsafeFileError(f"{what} {str(path)!r} holds a Lambda layer (Python code), which Keras's safe mode "
                                  "refuses to load; kzoo never loads such files") from None
        raise
