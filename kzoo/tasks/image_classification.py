"""Image classification: uint8 images in, float32 logits over `num_classes` out (MNIST-style)."""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.images import load_image_data
from kzoo.data.schemas import IMAGE_DATA
from kzoo.errors import ConfigError
from kzoo.signatures import image as image_signatures
from kzoo.signatures import scoring
from kzoo.tasks.base import Task, register_task


@register_task
class ImageClassification(Task):
    """Sparse categorical cross-entropy on logits; accuracy; the validation split is `data.val_fraction`."""

    name = "image_classification"
    monitor, mode = "val_accuracy", "max"
    main_metrics = ("accuracy",)
    data_schema = IMAGE_DATA
    validation_key = "data.val_fraction"
    distillable = True
    evaluates_exports = True

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        return load_image_data(config, source, data_dir, seed, batch_size, shard)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        model = config["model"]
        x = rng.integers(0, 256, size=(batch_size, *model["image_shape"]), dtype=np.uint8)
        return x, rng.integers(0, model["num_classes"], size=(batch_size,))

    def has_validation(self, config):
        return float(config["data"].get("val_fraction", 0)) > 0

    def without_validation(self, data):
        data["val_fraction"] = 0.0

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return image_signatures.add_endpoints(archive, model, config, preprocessor)

    def serving_example(self, batch):
        rng = np.random.default_rng(0)
        return {"image": tf.constant(rng.integers(0, 256, (batch, 28, 28), dtype=np.uint8))}

    def evaluate_export(self, signature, config, info, data_dir, batch_size, max_examples):
        return scoring.evaluate_classifier_export(signature, config, info, "image", data_dir, batch_size, max_examples)

    def check_student(self, teacher: Mapping, student: Mapping, preprocessor=None) -> None:
        check_same_classes(teacher, student)
        if list(student["model"]["image_shape"]) != list(teacher["model"]["image_shape"]):
            raise ConfigError(f"{pair_name(teacher, student)} take different images: image_shape "
                              f"{student['model']['image_shape']} vs {teacher['model']['image_shape']}")


def pair_name(teacher: Mapping, student: Mapping) -> str:
    """`student 'x' and teacher 'y'`, the subject of distillation error messages."""
    return f"student {student['entry']!r} and teacher {teacher['entry']!r}"


def check_same_classes(teacher: Mapping, student: Mapping) -> None:
    """Raise ConfigError unless the two classifiers predict the same number of classes."""
    if student["model"]["num_classes"] != teacher["model"]["num_classes"]:
        raise ConfigError(f"{pair_name(teacher, student)} have different output shapes: num_classes "
                          f"{student['model']['num_classes']} vs {teacher['model']['num_classes']}")
