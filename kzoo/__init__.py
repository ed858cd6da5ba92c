"""kzoo: a Keras 3 model zoo with tf.data pipelines, training tools and SavedModel export.

    import kzoo
    kzoo.list_models("*transformer*")
    model = kzoo.build("lstm", units=32)
    model, preprocessor = kzoo.load("path/to/preset")   # or hf://org/name, kaggle://owner/model/keras/variant
"""

__version__ = "0.1.0"

import importlib

from kzoo.entries import UnknownModelError, register_model
from kzoo.errors import ConfigError

_LAZY = {"build": "kzoo.presets.loader", "build_from_config": "kzoo.zoo", "example_batch": "kzoo.tasks",
         "get_config": "kzoo.registry", "get_entry": "kzoo.registry", "list_models": "kzoo.registry",
         "load": "kzoo.presets.loader"}


def __getattr__(name: str):
    # PEP 562: these import TensorFlow, Keras and every task; loading them on first use keeps
    # `import kzoo` (and every tool's `--help`) free of that start-up cost.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kzoo' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "UnknownModelError",
    "build",
    "build_from_config",
    "example_batch",
    "get_config",
    "get_entry",
    "list_models",
    "load",
    "register_model",
]
