"""Who this process is in a multi-worker job, and the callbacks that must only write on the chief.

Under `MultiWorkerMirroredStrategy` every worker runs the same `train()`; all of them must run
every collective step, but only the chief may write the run directory and the export. The other
workers write their (identical) logs and checkpoints into a scratch folder that is removed at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.errors import ConfigError
from kzoo.training.callbacks import SafeBackupAndRestore


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster: `index` of `count` workers; `is_chief` writes the run."""

    index: int = 0
    count: int = 1
    is_chief: bool = True

    @property
    def shard(self) -> tuple[int, int] | None:
        """`(count, index)` for the data loaders, or None on a single worker."""
        return (self.count, self.index) if self.count > 1 else None


def worker_role(strategy: tf.distribute.Strategy) -> WorkerRole:
    """Return the role of this process under `strategy` (a single chief unless it is multi-worker)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerRole()
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec()
    jobs = spec.jobs
    chiefs = spec.num_tasks("chief") if "chief" in jobs else 0
    workers = spec.num_tasks("worker") if "worker" in jobs else 0
    if chiefs + workers <= 1:
        return WorkerRole()
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    index = task_id + (chiefs if task_type == "worker" else 0)
    is_chief = task_type == "chief" or (chiefs == 0 and task_type == "worker" and task_id == 0)
    return WorkerRole(index=index, count=chiefs + workers, is_chief=is_chief)


def scratch_dir(role: WorkerRole) -> Path:
    """Return a fresh temporary folder for a non-chief worker's files (removed by `remove_scratch`)."""
    return Path(tempfile.mkdtemp(prefix=f"kzoo-worker{role.index}-"))


def remove_scratch(path: Path) -> None:
    """Delete a worker's scratch folder."""
    shutil.rmtree(path, ignore_errors=True)


class ReadOnlyBackupAndRestore(SafeBackupAndRestore):
    """The backup for non-chief workers: restores from the chief's backup (`SafeBackupAndRestore`), never writes it.

    Keras 3's callback has no multi-worker logic (tf-keras had), so every worker would write and
    finally delete the same files at once; only the chief does that here.
    """

    def _save_model(self):
        pass

    def on_train_end(self, logs=None):
        pass


def weights_digest(model: keras.Model) -> str:
    """Return a short SHA-256 of the model's weights (equal on workers that are in sync)."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def worker_batch_size(config: dict, role: WorkerRole) -> int:
    """The batch each worker feeds per step: the global `train.batch_size` split evenly over the workers.

    MultiWorkerMirroredStrategy takes a worker's own (already sharded, auto-shard OFF) batches as that
    worker's part of the step, so the global batch is the sum over workers.
    """
    batch_size = config.train.batch_size
    if batch_size % role.count:
        raise ConfigError(
            f"train.batch_size={batch_size} must be divisible by the {role.count} workers (it is the global batch)")
    return batch_size // role.count


def without_auto_shard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Turn off tf.distribute's auto-sharding for a dataset that is already this worker's shard."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)
