"""kzoo: a Keras 3 model zoo with tf.data pipelines, training tools and SavedModel export.

    import kzoo
    kzoo.list_models("*transformer*")
    model = kzoo.build("lstm", units=32)
"""

__version__ = "0.1.0"

from kzoo.config import ConfigError
from kzoo.registry import (
    UnknownModelError,
    build,
    build_from_config,
    get_config,
    get_entry,
    list_models,
    register_model,
)

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
