"""kzoo: a Keras 3 model zoo with tf.data pipelines, training tools and SavedModel export.

    import kzoo
    kzoo.list_models("*transformer*")
    model = kzoo.build("lstm", units=32)
"""

__version__ = "0.1.0"

import importlib

from kzoo.entries import UnknownModelError, register_model
from kzoo.errors import ConfigError

_LAZY = {"build": "kzoo.zoo", "build_from_config": "kzoo.zoo", "get_config": "kzoo.registry",
         "get_entry": "kzoo.registry", "list_models": "kzoo.registry"}


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
    "get_config",
    "get_entry",
    "list_models",
    "register_model",
]
