"""`cnn`: a small convnet for 28x28x1 digits (two conv blocks, dropout, dense head)."""

from __future__ import annotations

from typing import Sequence

import keras

from kzoo.entries import register_model
from kzoo.schema import Fraction, PositiveInt


@keras.saving.register_keras_serializable(package="kzoo")
class GlobalBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose statistics cover the global batch on every backend.

    Under `tf.distribute` Keras's layer normalises each replica's slice and keeps per-replica
    moving averages, so the workers of a multi-worker run end with different weights; it is built
    with `synchronized=True` on TensorFlow (one all-reduce per layer and step; free on one device).
    JAX's DataParallel already computes global statistics, and Keras refuses `synchronized` there,
    so the flag is chosen when the layer is built and never saved: a `.keras` file loads on both.
    """

    def __init__(self, **kwargs):
        kwargs.pop("synchronized", None)
        super().__init__(synchronized=keras.backend.backend() == "tensorflow", **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("synchronized", None)
        return config


def build_cnn(
    image_shape: Sequence[PositiveInt] = (28, 28, 1),
    filters: Sequence[PositiveInt] = (32, 64),
    kernel_size: PositiveInt = 3,
    convs_per_block: PositiveInt = 2,
    batch_norm: bool = True,
    dense_units: PositiveInt = 128,
    dropout: Fraction = 0.25,
    head_dropout: Fraction = 0.5,
    num_classes: PositiveInt = 10,
    name: str = "cnn",
) -> keras.Model:
    """Return a convnet classifier taking raw uint8 images and returning float32 logits.

    Each block is `convs_per_block` (Conv, optional BatchNorm, ReLU) then MaxPool and Dropout.
    """
    images = keras.Input(shape=tuple(image_shape), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(images)
    for b, block_filters in enumerate(filters):
        for c in range(convs_per_block):
            x = keras.layers.Conv2D(
                block_filters, kernel_size, padding="same", use_bias=not batch_norm,
                name=f"block{b}_conv{c}",
            )(x)
            if batch_norm:
                x = GlobalBatchNormalization(name=f"block{b}_bn{c}")(x)
            x = keras.layers.Activation("relu", name=f"block{b}_relu{c}")(x)
        x = keras.layers.MaxPooling2D(name=f"block{b}_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"block{b}_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="dense")(x)
    if head_dropout:
        x = keras.layers.Dropout(head_dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


@register_model(task="image_classification", builder=build_cnn)
def cnn(**kwargs) -> keras.Model:
    """MNIST convnet; hyperparameters in `zoo_configs/cnn.yaml`."""
    return build_cnn(**kwargs)


@register_model(task="image_classification", builder=build_cnn)
def cnn_small(**kwargs) -> keras.Model:
    """A ~7x smaller MNIST convnet, e.g. a distillation student; `zoo_configs/cnn_small.yaml`."""
    return build_cnn(**{"name": "cnn_small", **kwargs})
