"""One function from a strategy name to a `tf.distribute` strategy (after TF Model Garden's
`official/common/distribute_utils.py`)."""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


class StrategyError(RuntimeError):
    """The requested strategy cannot be created here; the message says why and what to use."""


def _tpu_hinted() -> bool:
    """True when the environment points at a TPU (resolving one otherwise may wait on a network)."""
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")) or os.path.exists("/dev/accel0")


def _connect_tpu(tpu_address: str | None):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise StrategyError(
            f"--strategy tpu: no TPU could be resolved ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
            "set TPU_NAME or pass --tpu ADDRESS, or use --strategy auto|default|mirrored"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def _cpu_devices() -> list[str]:
    return [d.name for d in tf.config.list_logical_devices("CPU")]


_CACHE: dict[tuple, tf.distribute.Strategy] = {}


def get_strategy(name: str = "auto", tpu_address: str | None = None) -> tf.distribute.Strategy:
    """Return the strategy for `name`, reusing the one made earlier in this process.

    Reuse matters: two MirroredStrategy objects in one process start their collective-op keys at
    the same numbers, and the second one's all-reduces then collide with the first's
    ("Shape mismatch in the collective instance ..."), e.g. when a benchmark trains several seeds.
    """
    strategy = _CACHE.get((name, tpu_address)) or _make_strategy(name, tpu_address)
    if isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)):
        _CACHE[(name, tpu_address)] = strategy
    return strategy


def _make_strategy(name: str, tpu_address: str | None) -> tf.distribute.Strategy:
    """Return the `tf.distribute.Strategy` for `name`.

    Names: `auto` (a TPU when the environment names one, else mirrored over all GPUs when there
    are several, else one GPU, else the default strategy), `default`, `one_device` (first GPU,
    else CPU), `mirrored` (all GPUs; on a CPU-only host all logical CPU devices, which lets tests
    split one CPU into replicas), `multi_worker` (`TF_CONFIG` cluster), `tpu`.
    Raises StrategyError naming the valid choices for an unknown name.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if name == "multi_worker":  # before anything lists devices: collectives must be configured first
        return _multi_worker()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if _tpu_hinted() or tpu_address:
            return _connect_tpu(tpu_address)
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        if len(gpus) == 1:
            return tf.distribute.OneDeviceStrategy(gpus[0].name)
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=None if gpus else _cpu_devices())
    if name == "tpu":
        return _connect_tpu(tpu_address)
    return _multi_worker()


def _multi_worker() -> tf.distribute.Strategy:
    if "TF_CONFIG" not in os.environ:
        raise StrategyError("--strategy multi_worker needs TF_CONFIG describing the cluster (see README)")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as err:
        raise StrategyError(f"TF_CONFIG is not valid JSON: {err}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def split_logical_cpus(count: int) -> None:
    """Split the physical CPU into `count` logical devices (before TensorFlow initialises)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


class JaxDistribution:
    """What `train()` needs from a strategy on the JAX backend: `scope()` and `num_replicas_in_sync`.

    The work itself is done by the global `keras.distribution` that `get_jax_distribution` sets.
    """

    def __init__(self, devices: list, distribution=None):
        self.devices = list(devices)
        self.distribution = distribution
        self.num_replicas_in_sync = max(1, len(self.devices))

    def scope(self):
        return contextlib.nullcontext()


def get_jax_distribution(name: str = "auto") -> JaxDistribution:
    """Map a strategy name to Keras's JAX-backend distribution and set it globally.

    `mirrored` (and `auto` with several devices, and `tpu` with TPU devices) becomes
    `keras.distribution.DataParallel` over all local devices; `default`/`one_device` (and `auto` on
    one device) train on the first device. `multi_worker` names TensorFlow's
    MultiWorkerMirroredStrategy and is refused with the way out. Raises StrategyError.
    """
    import jax
    from keras import distribution

    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if name == "multi_worker":
        raise StrategyError("--strategy multi_worker is TensorFlow's MultiWorkerMirroredStrategy; run it with "
                            "KERAS_BACKEND=tensorflow (on JAX, multi-host runs use keras.distribution.initialize)")
    devices = jax.devices()
    if name == "tpu" and not any(d.platform == "tpu" for d in devices):
        raise StrategyError(f"--strategy tpu: JAX sees no TPU (devices: {', '.join(sorted({d.platform for d in devices}))})")
    if name in ("default", "one_device") or (name == "auto" and len(devices) == 1):
        distribution.set_distribution(None)
        return JaxDistribution(devices[:1])
    data_parallel = distribution.DataParallel(devices=devices)
    distribution.set_distribution(data_parallel)
    return JaxDistribution(devices, data_parallel)
