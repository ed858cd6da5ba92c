"""kzoo: a Keras 3 model zoo with tf.data pipelines, training tools and SavedModel export.

    import kzoo
    kzoo.list_models("*transformer*")
    model = kzoo.build("lstm", units=32)
    model, preprocessor = kzoo.load("path/to/preset")   # or hf://org/name, kaggle://owner/model/keras/variant
    kzoo.predictor("path/to/preset")(text=["a great film"])   # what the exported SavedModel serves
    model = kzoo.load_model("runs/lstm-X")   # a run's model.keras: keras.saving.load_model needs kzoo's layers
"""

__version__ = "0.1.0"

import importlib

from kzoo.entries import register_model
from kzoo.errors import ConfigError, KzooError, UnknownModelError

_LAZY = {"build": "kzoo.presets.loader", "build_from_config": "kzoo.zoo", "example_batch": "kzoo.tasks",
         "get_config": "kzoo.entry_config", "get_entry": "kzoo.entry_config", "list_models": "kzoo.entry_config",
         "load": "kzoo.presets.loader", "load_model": "kzoo.presets.loader", "predictor": "kzoo.presets.loader"}


def start(verbose: bool | None = None) -> None:
    """Load TensorFlow and Keras now, with their start-up log lines (absl, oneDNN, CUDA) hidden as the tools hide them.

    kzoo's API calls it on first use; call it first with `verbose=True` (or set `KZOO_VERBOSE=1`) to see
    those lines. Once TensorFlow is loaded, by kzoo or anything else, it does nothing.
    """
    from kzoo.cli.quiet import quiet_import

    quiet_import(verbose)


def __getattr__(name: str):
    # PEP 562: these import TensorFlow, Keras and every task; loading them on first use keeps
    # `import kzoo` (and every tool's `--help`) free of that start-up cost.
    if name in _LAZY:
        start()
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "KzooError",
    "UnknownModelError",
    "build",
    "build_from_config",
    "example_batch",
    "get_config",
    "get_entry",
    "list_models",
    "load",
    "load_model",
    "predictor",
    "register_model",
    "start",
]
