"""One function from a strategy name to a `tf.distribute` strategy (after TF Model Garden's
`official/common/distribute_utils.py`)."""

from __future__ import annotations

import contextlib
import json
import os

import keras
import tensorflow as tf

from kzoo.errors import StrategyError
from kzoo.schema import STRATEGIES  # declared with the `runtime` section it is a choice of


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
    """MultiWorkerMirroredStrategy from `TF_CONFIG`, or from the SLURM allocation under `srun`."""
    if "TF_CONFIG" not in os.environ:
        if int(os.environ.get("SLURM_NTASKS", "0") or 0) > 1 and "SLURM_PROCID" in os.environ:
            port = int(os.environ.get("KZOO_SLURM_PORT", "12345"))
            resolver = tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port)
            return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        raise StrategyError("--strategy multi_worker needs TF_CONFIG describing the cluster, or a SLURM job "
                            "step with several tasks (srun); see README")
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

    def callbacks(self) -> list:
        """Callbacks `fit` needs for this distribution (put them first)."""
        return [_shard_during_training_callback(self.distribution)] if self.distribution is not None else []

    def prepare_train(self, dataset):
        """Drop a final training batch that the device count does not divide (JAX cannot split it)."""
        if self.distribution is None:
            return dataset
        count = self.num_replicas_in_sync
        return dataset.filter(lambda *batch: tf.shape(tf.nest.flatten(batch)[0])[0] % count == 0)


def get_jax_distribution(name: str = "auto") -> JaxDistribution:
    """Map a strategy name to Keras's JAX-backend distribution and set it globally.

    `mirrored` (and `auto` with several devices, and `tpu` with TPU devices) becomes
    `keras.distribution.DataParallel` over all local devices; `default`/`one_device` (and `auto` on
    one device) train on the first device. `multi_worker` names TensorFlow's
    MultiWorkerMirroredStrategy and is refused with the way out. Raises StrategyError.
    """
    import jax  # the JAX backend only
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
    data_parallel = _data_parallel_any_batch()(devices=devices)
    distribution.set_distribution(data_parallel)
    return JaxDistribution(devices, data_parallel)


def _data_parallel_any_batch():
    """`DataParallel` that shards only training batches; evaluation and prediction batches are replicated.

    Keras computes an iterator's data layout once, from its first batch, and JAX refuses to split
    a batch the device count does not divide, so the last, smaller batch of a validation or test
    split would fail under plain DataParallel. Evaluation batches are therefore replicated (every
    device computes the whole batch, exactly the single-device result), and training drops a final
    batch the device count does not divide (`JaxDistribution.prepare_train`). Written here because
    Keras's DataParallel has no option for uneven batches (Keras 3.15).
    """
    from keras import distribution

    class DataParallelTrainingBatches(distribution.DataParallel):
        shard_batches = False  # set by `ShardDuringTraining`

        def get_data_layout(self, data_shape):
            if not self.shard_batches:
                return distribution.TensorLayout([None] * len(data_shape), self.device_mesh)
            return super().get_data_layout(data_shape)

    return DataParallelTrainingBatches


def _shard_during_training_callback(data_parallel):
    class ShardDuringTraining(keras.callbacks.Callback):
        """Turns batch sharding on for training steps and off for validation and end-of-epoch callbacks."""

        def _set(self, value):
            data_parallel.shard_batches = value

        def on_epoch_begin(self, epoch, logs=None):
            self._set(True)

        def on_test_begin(self, logs=None):
            self._set(False)

        def on_test_end(self, logs=None):
            self._set(True)

        def on_epoch_end(self, epoch, logs=None):
            self._set(False)

        def on_train_end(self, logs=None):
            self._set(False)

    return ShardDuringTraining()
