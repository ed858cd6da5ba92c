"""`mlp`: the classic MNIST multilayer perceptron (784 -> 256 -> 128 -> 64 -> 10)."""

from __future__ import annotations

from typing import Sequence

import keras

from kzoo.entries import register_model
from kzoo.schema import Activation, Fraction, PositiveInt


def build_mlp(
    image_shape: Sequence[PositiveInt] = (28, 28, 1),
    hidden_units: Sequence[PositiveInt] = (256, 128, 64),
    dropout: Fraction = 0.2,
    activation: Activation = "relu",
    num_classes: PositiveInt = 10,
    name: str = "mlp",
) -> keras.Model:
    """Return a Dense-stack classifier taking raw uint8 images and returning float32 logits.

    The input is rescaled to [0, 1] and flattened inside the model, so serving passes raw pixels.
    """
    images = keras.Input(shape=tuple(image_shape), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(images)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


@register_model(task="image_classification", builder=build_mlp)
def mlp(**kwargs) -> keras.Model:
    """MNIST MLP; hyperparameters in `zoo_configs/mlp.yaml`."""
    return build_mlp(**kwargs)
