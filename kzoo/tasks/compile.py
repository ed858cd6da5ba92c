"""Compile a zoo model: its task's loss and metrics, and the optimizer and schedule of the `train` section."""

from __future__ import annotations

from typing import Mapping

import keras
import tensorflow as tf

from kzoo.run_config import ConfigSection


def make_learning_rate(train: ConfigSection, steps_per_epoch: int | None):
    """Return a float or a `keras.optimizers.schedules` schedule from the `train` section.

    `train.schedule`: `constant`, `cosine` (decay to 0 over all epochs after `warmup_steps`
    of linear warm-up) or `exponential` (`decay_rate` per epoch). Schedules that need the run
    length fall back to a constant rate when `steps_per_epoch` is unknown.
    """
    lr = train.learning_rate
    schedule = train.schedule
    valid = ("constant", "cosine", "exponential")
    if schedule not in valid:
        raise ValueError(f"train.schedule must be one of {valid}, got {schedule!r}")
    if schedule == "constant" or not steps_per_epoch:
        return lr
    total = max(1, int(steps_per_epoch) * train.epochs)
    warmup = train.warmup_steps
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else lr,
            decay_steps=max(1, total - warmup),
            warmup_target=lr if warmup else None,
            warmup_steps=warmup,
        )
    return keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=int(steps_per_epoch), decay_rate=train.decay_rate
    )


def make_optimizer(train: ConfigSection, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """Return the optimizer named by `train.optimizer` (adam, adamw, sgd, rmsprop)."""
    name = train.optimizer
    kwargs = {"learning_rate": make_learning_rate(train, steps_per_epoch)}
    if train.clipnorm:
        kwargs["clipnorm"] = train.clipnorm
    factories = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    if name not in factories:
        raise ValueError(f"train.optimizer must be one of {sorted(factories)}, got {name!r}")
    if name == "adamw":
        kwargs["weight_decay"] = train.weight_decay
    if name == "sgd":
        kwargs["momentum"] = train.momentum
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
    task = config.task_object
    train = config.train
    one_replica = tf.distribute.get_strategy().num_replicas_in_sync == 1
    if jit_compile is not True and train.jit_compile and one_replica:
        jit_compile = True
    model.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=task.loss(),
        metrics=task.metrics(),
        weighted_metrics=task.weighted_metrics() or None,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution or (train.steps_per_execution if one_replica else 1),
    )
    return model
