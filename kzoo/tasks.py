"""Per-task defaults: loss, metrics and the metric early stopping watches; optimizer factory.

Every classifier in the zoo outputs float32 logits over `num_classes`; recommenders output one
logit per (user, item) pair; seq2seq models output logits over the target vocabulary with id 0
as padding.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import keras


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Loss and metric factories for a task, and the validation metric to monitor."""

    loss: Callable[[], keras.losses.Loss]
    metrics: Callable[[], list]
    monitor: str
    mode: str


@keras.saving.register_keras_serializable(package="kzoo")
def masked_token_accuracy(y_true, y_pred):
    """Token accuracy of seq2seq logits, ignoring padding (id 0) in `y_true`."""
    y_true = keras.ops.cast(y_true, "int32")
    predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
    hits = keras.ops.cast(keras.ops.equal(y_true, predicted), "float32") * mask
    return keras.ops.sum(hits) / keras.ops.maximum(keras.ops.sum(mask), 1.0)


TASKS: dict[str, TaskSpec] = {
    "image_classification": TaskSpec(
        loss=lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        monitor="val_accuracy",
        mode="max",
    ),
    "text_classification": TaskSpec(
        loss=lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=lambda: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        monitor="val_accuracy",
        mode="max",
    ),
    "recommendation": TaskSpec(
        loss=lambda: keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=lambda: [keras.metrics.AUC(from_logits=True, name="auc")],
        monitor="val_hr@10",
        mode="max",
    ),
    "seq2seq": TaskSpec(
        loss=lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        metrics=lambda: [keras.metrics.MeanMetricWrapper(masked_token_accuracy, name="accuracy")],
        monitor="val_accuracy",
        mode="max",
    ),
}


def get_task(name: str) -> TaskSpec:
    """Return the TaskSpec for `name`; unknown names raise ValueError listing the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {sorted(TASKS)}")
    return TASKS[name]


def make_learning_rate(train: Mapping, steps_per_epoch: int | None):
    """Return a float or a `keras.optimizers.schedules` schedule from the `train` section.

    `train.schedule`: `constant`, `cosine` (decay to 0 over all epochs after `warmup_steps`
    of linear warm-up) or `exponential` (`decay_rate` per epoch). Schedules that need the run
    length fall back to a constant rate when `steps_per_epoch` is unknown.
    """
    lr = float(train.get("learning_rate", 1e-3))
    schedule = train.get("schedule", "constant")
    valid = ("constant", "cosine", "exponential")
    if schedule not in valid:
        raise ValueError(f"train.schedule must be one of {valid}, got {schedule!r}")
    if schedule == "constant" or not steps_per_epoch:
        return lr
    total = max(1, int(steps_per_epoch) * int(train.get("epochs", 1)))
    warmup = int(train.get("warmup_steps", 0))
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr,
            decay_steps=max(1, total - warmup),
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=int(steps_per_epoch), decay_rate=float(train.get("decay_rate", 0.9))
    )


def make_optimizer(train: Mapping, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """Return the optimizer named by `train.optimizer` (adam, adamw, sgd, rmsprop)."""
    name = train.get("optimizer", "adam")
    kwargs = {"learning_rate": make_learning_rate(train, steps_per_epoch)}
    if train.get("clipnorm"):
        kwargs["clipnorm"] = float(train["clipnorm"])
    factories = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    if name not in factories:
        raise ValueError(f"train.optimizer must be one of {sorted(factories)}, got {name!r}")
    if name == "adamw":
        kwargs["weight_decay"] = float(train.get("weight_decay", 0.01))
    if name == "sgd":
        kwargs["momentum"] = float(train.get("momentum", 0.9))
    return factories[name](**kwargs)


def compile_model(
    model: keras.Model,
    config: Mapping,
    steps_per_epoch: int | None = None,
    jit_compile="auto",
    steps_per_execution: int | None = None,
) -> keras.Model:
    """Compile `model` with its task's loss and metrics and the config's optimizer; return it.

    `train.steps_per_execution` and `train.jit_compile` in the config apply unless the caller
    asks for more: `jit_compile=True` always wins, the config's `true` turns XLA on when the
    caller passes False or "auto" — on one replica only (Keras itself keeps XLA off under
    tf.distribute). The config's `steps_per_execution` is a one-replica setting too: under
    MirroredStrategy and MultiWorkerMirroredStrategy, Keras 3.15's multi-step training loop fails
    on the optimizer's conditional update ("You must feed a value for placeholder tensor
    'while/cond/...'", seen with gmf and neumf), so replicated runs take one step per call. A
    `steps_per_execution` argument always applies.
    """
    import tensorflow as tf

    task = get_task(config["task"])
    train = config.get("train", {})
    one_replica = tf.distribute.get_strategy().num_replicas_in_sync == 1
    if jit_compile is not True and train.get("jit_compile") and one_replica:
        jit_compile = True
    model.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=task.loss(),
        metrics=task.metrics(),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution or (int(train.get("steps_per_execution", 1)) if one_replica else 1),
    )
    return model


def example_batch(config: Mapping, batch_size: int = 8, seed: int = 0):
    """Return a fixed random `(inputs, targets)` batch shaped like the entry's real data.

    Used by the registry-wide tests and by `tools/benchmark.py --speed`; inputs follow the
    conventions of each task (uint8 `image`, int `token_ids`, int `user_id`/`item_id`,
    int `encoder_inputs`/`decoder_inputs`).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    model, data, task = config["model"], config["data"], config["task"]
    if task == "image_classification":
        x = rng.integers(0, 256, size=(batch_size, *model["image_shape"]), dtype=np.uint8)
        return x, rng.integers(0, model["num_classes"], size=(batch_size,))
    if task == "text_classification":
        length = data["sequence_length"]
        x = rng.integers(1, model["vocab_size"], size=(batch_size, length)).astype("int32")
        x[:, length // 2 + 1 :][rng.random((batch_size, length - length // 2 - 1)) < 0.5] = 0
        return x, rng.integers(0, model["num_classes"], size=(batch_size,))
    if task == "recommendation":
        x = {
            "user_id": rng.integers(1, model["num_users"] + 1, size=(batch_size,)).astype("int32"),
            "item_id": rng.integers(1, model["num_items"] + 1, size=(batch_size,)).astype("int32"),
        }
        return x, rng.integers(0, 2, size=(batch_size,)).astype("float32")
    if task == "seq2seq":
        src = rng.integers(1, model["source_vocab_size"], size=(batch_size, data["source_length"]))
        tgt = rng.integers(1, model["target_vocab_size"], size=(batch_size, data["target_length"] + 1))
        x = {"encoder_inputs": src.astype("int32"), "decoder_inputs": tgt[:, :-1].astype("int32")}
        return x, tgt[:, 1:].astype("int32")
    raise ValueError(f"no example batch for task {task!r}")
