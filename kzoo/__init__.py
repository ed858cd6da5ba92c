"""kzoo: a Keras 3 model zoo with tf.data pipelines, training tools and SavedModel export.

    import kzoo
    kzoo.list_models("*transformer*")
    model = kzoo.build("lstm", units=32)
"""

__version__ = "0.1.0"

from kzoo.config import ConfigError
from kzoo.registry import UnknownModelError, get_config, get_entry, list_models, register_model

_BUILDERS = ("build", "build_from_config")


def __getattr__(name: str):
    # PEP 562: `kzoo.build` imports TensorFlow, Keras and every task; loading them on first use keeps
    # `import kzoo` (and every tool's `--help`) free of that start-up cost.
    if name in _BUILDERS:
        from kzoo import zoo

        return getattr(zoo, name)
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
