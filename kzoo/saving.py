"""Loading `.keras` files the user names, with Keras's safe mode on and a one-line refusal.

Every `.keras` file kzoo loads (a run's model, `prune.from_run`, a distillation teacher, NeuMF's
`model.pretrained_gmf` / `pretrained_mlp`) goes through `load_keras_file`: Keras's default
`safe_mode=True` refuses `Lambda` layers (arbitrary code); kzoo turns that `ValueError` into
`UnsafeFileError` naming the file, which the tools report in one line with exit 2. Any other
failure to load (a damaged file, one that names a function Keras does not know, such as `os.system`)
is a `ModelFileError` with the first line of its innermost cause.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import keras

from kzoo.errors import ModelFileError, UnsafeFileError

# Keras 3.15's wording for a refused Lambda (keras/src/layers/core/lambda_layer.py).
_SAFE_MODE_REFUSAL = "safe_mode=False"


def load_keras_file(path: str | os.PathLike, what: str = "model file", compile: bool = False) -> keras.Model:
    """`keras.saving.load_model(path, compile=compile)` in safe mode; UnsafeFileError names a refused file."""
    path = Path(path)
    try:
        return keras.saving.load_model(path, compile=compile)
    except (ValueError, TypeError, KeyError, AttributeError, OSError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, ValueError) and _SAFE_MODE_REFUSAL in str(err):
            raise UnsafeFileError(f"{what} {str(path)!r} holds a Lambda layer (Python code), which Keras's safe mode "
                                  "refuses to load; kzoo never loads such files") from None
        if isinstance(err, FileNotFoundError):
            raise
        raise ModelFileError(f"{what} {str(path)!r} cannot be loaded: {_innermost(err)} (a .keras file may name only "
                             "Keras's and kzoo's own layers and functions)") from None


def _innermost(err: BaseException) -> str:
    """The first line of the deepest cause: Keras wraps "Could not locate function 'system'" in two more errors."""
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". Make sure")[0]  # Keras's advice is about registering one's own classes
