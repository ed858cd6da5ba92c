"""Knowledge distillation (Hinton et al. 2015): a `Distiller` that trains a student on a frozen teacher.

    loss = alpha * hard_loss(y, student) + (1 - alpha) * T**2 * KL(softmax(teacher / T) || softmax(student / T))

Written with `keras.ops` only and overriding `compute_loss` (the Keras 3 hook that `train_step`
and `test_step` call on every backend), so plain `fit`/`evaluate` work on TensorFlow and JAX. The
T**2 factor keeps the soft term's gradients on the scale of the hard term's as T changes.
"""

from __future__ import annotations

import keras
from keras import ops


def check_settings(temperature: float, alpha: float) -> None:
    """Raise ValueError unless `temperature > 0` and `0 <= alpha <= 1` (the messages name the key)."""
    if not temperature > 0:
        raise ValueError(f"distill.temperature must be > 0, got {temperature!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"distill.alpha must be in [0, 1], got {alpha!r}")


def soft_target_kl(teacher_logits, student_logits, temperature: float, sample_weight=None):
    """Mean over the batch of KL(softmax(teacher / T) || softmax(student / T)), in float32.

    Zero when the two logit tensors are equal; the T**2 factor is left to the caller.
    """
    teacher = ops.cast(teacher_logits, "float32") / temperature
    student = ops.cast(student_logits, "float32") / temperature
    log_p = ops.log_softmax(teacher, axis=-1)
    kl = ops.sum(ops.exp(log_p) * (log_p - ops.log_softmax(student, axis=-1)), axis=-1)
    if sample_weight is None:
        return ops.mean(kl)
    weight = ops.reshape(ops.cast(sample_weight, "float32"), ops.shape(kl))
    return ops.sum(kl * weight) / ops.maximum(ops.sum(weight), 1e-12)


class Distiller(keras.Model):
    """Wraps a student and a frozen teacher; `fit` trains the student on the distillation loss.

    Compile it like the student (the task's loss on logits is the hard-label loss, the metrics see
    the student's logits). The teacher runs with `training=False` and is never updated. Saving a
    Distiller saves its student, so `ModelCheckpoint` writes a plain zoo model; read the trained
    student from `.student`.
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float = 2.0,
                 alpha: float = 0.1, **kwargs):
        check_settings(temperature, alpha)
        super().__init__(name=kwargs.pop("name", f"distill_{student.name}"), **kwargs)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.built = True  # no weights of its own; BackupAndRestore needs a built model

    def compile(self, *args, **kwargs):
        """Compile as usual; the student shares the optimizer, so its saved file holds the real state."""
        super().compile(*args, **kwargs)
        if self.student.compiled:
            self.student.optimizer = self.optimizer

    def call(self, inputs, training=None):
        """Return the student's logits."""
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`alpha` * the compiled (hard-label) loss + `(1 - alpha) T^2` * the soft-target KL.

        The hard part is `Model.compute_loss`, so the student's added losses (regularizers, none in
        the zoo today) are scaled by `alpha` with it.
        """
        hard = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if self.alpha == 1.0:
            return hard
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        soft = soft_target_kl(teacher_logits, y_pred, self.temperature, sample_weight)
        return self.alpha * hard + (1.0 - self.alpha) * self.temperature**2 * soft

    def save(self, filepath, *args, **kwargs):
        """Save the student alone (what `ModelCheckpoint` writes as `best.keras`)."""
        return self.student.save(filepath, *args, **kwargs)
