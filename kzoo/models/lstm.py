"""`lstm` (alias `lstm_sentiment`): token ids -> masked Embedding -> (Bi)LSTM stack -> head."""

from __future__ import annotations

from typing import Literal

import keras

from kzoo.entries import register_model
from kzoo.schema import Fraction, PositiveInt


@keras.saving.register_keras_serializable(package="kzoo")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Max over time that ignores padded steps (Keras's GlobalMaxPooling1D drops the mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return keras.ops.max(inputs, axis=1)
        mask = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
        pooled = keras.ops.max(keras.ops.where(mask, inputs, keras.ops.full_like(inputs, -1e9)), axis=1)
        # An all-padding row (an empty text) pools to zeros, not to -1e9.
        return keras.ops.where(keras.ops.any(mask, axis=1), pooled, keras.ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_lstm_classifier(
    vocab_size: PositiveInt = 20000,
    embedding_dim: PositiveInt = 24,
    units: PositiveInt = 32,
    num_layers: PositiveInt = 1,
    bidirectional: bool = True,
    pooling: Literal["last", "max", "mean"] = "last",
    embedding_dropout: Fraction = 0.0,
    dropout: Fraction = 0.3,
    num_classes: PositiveInt = 2,
    name: str = "lstm",
) -> keras.Model:
    """Return an LSTM text classifier on int token ids (0 = padding) giving float32 logits.

    `pooling`: `last` uses the final LSTM state; `max`/`mean` pool all (unmasked) time steps.
    """
    if pooling not in ("last", "max", "mean"):
        raise ValueError(f"model.pooling must be 'last', 'max' or 'mean', got {pooling!r}")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(token_ids)
    if embedding_dropout:
        x = keras.layers.SpatialDropout1D(embedding_dropout, name="embedding_dropout")(x)
    for i in range(num_layers):
        last = i == num_layers - 1
        layer = keras.layers.LSTM(units, return_sequences=not (last and pooling == "last"), name=f"lstm_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bilstm_{i}")
        x = layer(x)
    if pooling == "max":
        x = MaskedGlobalMaxPooling1D(name="max_pool")(x)
    elif pooling == "mean":
        x = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(token_ids, logits, name=name)


@register_model(task="text_classification", builder=build_lstm_classifier, aliases=("lstm_sentiment",))
def lstm(**kwargs) -> keras.Model:
    """IMDB sentiment LSTM; hyperparameters in `zoo_configs/lstm.yaml`."""
    return build_lstm_classifier(**kwargs)


@register_model(task="text_classification", builder=build_lstm_classifier)
def lstm_small(**kwargs) -> keras.Model:
    """A 4x smaller sentiment LSTM, e.g. a distillation student; `zoo_configs/lstm_small.yaml`."""
    return build_lstm_classifier(**{"name": "lstm_small", **kwargs})
