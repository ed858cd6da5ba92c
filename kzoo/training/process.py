"""Process-wide settings a run makes before it builds anything: seeds, determinism, the dtype policy."""

from __future__ import annotations

import platform
import random

import keras
import keras_hub
import numpy as np
import tensorflow as tf

import kzoo


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; with `deterministic`, enable op determinism."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def set_mixed_precision(enabled: bool) -> str:
    """Set the global Keras dtype policy and return its name.

    `mixed_float16` on GPU, `mixed_bfloat16` on CPU/TPU; models keep float32 logits.
    """
    if not enabled:
        keras.mixed_precision.set_global_policy("float32")
    else:
        if keras.backend.backend() == "jax":
            import jax  # only on the JAX backend

            gpu = jax.default_backend() == "gpu"
        else:
            gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    return keras.mixed_precision.global_policy().name


def versions() -> dict:
    """The versions a run records in `metrics.json`."""
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "kzoo": kzoo.__version__,
        "backend": keras.backend.backend(),
    }
