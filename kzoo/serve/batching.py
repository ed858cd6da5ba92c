"""Server-side batching of one SavedModel signature, through TensorFlow's own `BatchFunction` op.

Concurrent requests (each on its own server thread) call `BatchedSignature.__call__`; the op queues
their inputs and runs the signature once on the concatenation, then hands each caller its own rows.
This is the batching TF Serving does in-graph (`tf.nondifferentiable_batch_function`: max batch size,
max wait, a bounded number of queued batches), so no Python batcher is written here. A full queue
raises `tf.errors.UnavailableError`, which the server turns into a 503.

Inputs of rank 0 (`recommend`'s `k`) cannot be concatenated: each distinct set of scalar values gets
its own batching queue (the `MAX_SCALAR_QUEUES` most recently used are kept compiled). A request of
more rows than `max_batch_size` runs on its own, unbatched.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
import threading
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

MAX_SCALAR_QUEUES = 64
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # upper bounds of the batch-size histogram's buckets
_QUEUE_IDS = itertools.count()


@dataclass(frozen=True)
class BatchOptions:
    """How a signature batches: `max_batch_size` rows (0 = no batching), waiting at most `timeout_ms`."""

    max_batch_size: int = 64
    timeout_ms: float = 2.0
    max_enqueued_batches: int = 64
    num_batch_threads: int = 1


class BatchedSignature:
    """One signature of one loaded version, called with a dict of NumPy arrays, returning a dict of NumPy arrays.

    The rows of every batch the model runs are counted in `BATCH_BOUNDS` buckets inside the graph
    (`batch_histogram()`): a Python callback there would make the batching thread wait for the GIL that
    the request threads hold, stalling every batch.
    """

    def __init__(self, function, options: BatchOptions):
        self._function = function
        _, kwargs = function.structured_input_signature
        self.input_specs: dict[str, tf.TensorSpec] = dict(kwargs)
        self.output_specs: dict[str, tf.TensorSpec] = dict(function.structured_outputs)
        self.output_names = sorted(self.output_specs)
        self.batched_names = [n for n, s in sorted(self.input_specs.items()) if s.shape.rank != 0]
        # inputs with a free inner dimension ([None, None] histories): only requests of one width are batched
        self._free_width = [n for n in self.batched_names if None in self.input_specs[n].shape.as_list()[1:]]
        self._options = options
        self._bucket_counts = tf.Variable(tf.zeros([len(BATCH_BOUNDS) + 1], tf.int64), trainable=False)
        self._rows_total = tf.Variable(tf.constant(0, tf.int64), trainable=False)
        self._queues: OrderedDict[tuple, Callable] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        scalars = tuple((n, inputs[n].item()) for n, s in sorted(self.input_specs.items()) if s.shape.rank == 0)
        rows = len(inputs[self.batched_names[0]]) if self.batched_names else 0
        # A request as large as a batch gains nothing from waiting for others (and the op refuses one larger
        # than its batch): it runs on its own.
        widths = tuple(inputs[n].shape[1:] for n in self._free_width)
        run = self._queue((scalars, widths), batching=0 < rows <= self._options.max_batch_size)
        outputs = run(*[tf.constant(inputs[n], dtype=self.input_specs[n].dtype) for n in self.batched_names])
        return {name: value.numpy() for name, value in zip(self.output_names, outputs)}

    def batch_histogram(self) -> tuple[list[int], int]:
        """(batches per `BATCH_BOUNDS` bucket, the last one above them; total rows) since the version loaded."""
        return [int(c) for c in self._bucket_counts.numpy()], int(self._rows_total.numpy())

    def _queue(self, shape_key: tuple, batching: bool) -> Callable:
        """The compiled function (batching or not) for these scalar values and free widths, made on first use."""
        scalars = dict(shape_key[0])
        key = (shape_key, batching)
        with self._lock:
            run = self._queues.get(key)
            if run is not None:
                self._queues.move_to_end(key)
                return run
            if len(self._queues) >= MAX_SCALAR_QUEUES:  # many distinct `k`s: the least recently used goes
                self._queues.popitem(last=False)
            run = self._queues[key] = self._compile(scalars, batching)
            return run

    def _compile(self, scalars: dict, batching: bool) -> Callable:
        fixed = {n: tf.constant(v, dtype=self.input_specs[n].dtype) for n, v in scalars.items()}
        specs = [self.input_specs[n] for n in self.batched_names]

        def model(*tensors):
            if tensors:
                rows = tf.cast(tf.shape(tensors[0])[0], tf.int64)
                bucket = tf.searchsorted(tf.constant(BATCH_BOUNDS, tf.int64), tf.reshape(rows, [1]), side="left")
                self._bucket_counts.assign_add(tf.one_hot(bucket[0], len(BATCH_BOUNDS) + 1, dtype=tf.int64))
                self._rows_total.assign_add(rows)
            outputs = self._function(**dict(zip(self.batched_names, tensors)), **fixed)
            return [outputs[name] for name in self.output_names]

        if not batching:
            return tf.function(model, input_signature=specs)
        o = self._options
        queued = tf.nondifferentiable_batch_function(
            num_batch_threads=o.num_batch_threads, max_batch_size=o.max_batch_size,
            batch_timeout_micros=int(o.timeout_ms * 1000), max_enqueued_batches=o.max_enqueued_batches)(model)
        scope = f"kzoo_batch_{next(_QUEUE_IDS)}"

        def in_own_queue(*tensors):
            # The op's queue is a resource named after its name scope ("batch/"), shared by every graph in
            # the process: without a scope of its own, two signatures (or two versions) would run each
            # other's requests through one function.
            with tf.name_scope(scope):
                return queued(*tensors)

        return tf.function(in_own_queue, input_signature=specs)
