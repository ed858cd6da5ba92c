import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path

import pytest

SHARED_DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_datasets():
    """The real datasets beside the repository; tests that need them skip when absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def tiny_config():
    """A factory: `tiny_config(name, overrides=None, **dotted)` is entry `name`'s resolved tiny config,
    `kzoo.get_config(name, ..., tiny=True)`, with dotted overrides (see `_runs.tiny_config`)."""
    from _runs import tiny_config

    return tiny_config


@pytest.fixture(autouse=True)
def _op_determinism_does_not_leak():
    """A test that turns on TensorFlow's op determinism (runtime.deterministic) turns it off again.

    Left on, it silently disables XLA (`model_supports_jit`) for every later test in the process,
    so a test's result would depend on which test files ran before it in the same worker.
    """
    yield
    import sys

    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config as tf_config

        if tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
