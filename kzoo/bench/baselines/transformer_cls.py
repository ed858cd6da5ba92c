"""Hand-written baseline for kzoo's `transformer_cls`: IMDB into NumPy, one encoder block by hand.

Same architecture and batch size as `zoo_configs/transformer_cls.yaml` (vocabulary 20,000, length
512, keras-hub token + position embedding 64, dropout 0.25, one TransformerEncoder with 2 heads,
feed-forward 128, dropout 0.1 and the padding mask, mean over the real tokens, dropout 0.3,
Dense(2) logits; AdamW 1e-3 with weight decay 0.05 and clipnorm 1.0 at a constant rate; batch 64;
2 epochs). Everything else is Keras's default: TextVectorization's own standardisation, `compile`
and `fit` settings, no validation, no learning-rate schedule.

    python -m kzoo.bench.baselines.transformer_cls --data-dir ../shared/datasets/tfds [--epochs 2] [--max-train-examples N]
"""

from __future__ import annotations

import sys

import keras
import keras_hub

from ._shared import fit_text_classifier, load_imdb_arrays, same_arrays_every_epoch, script_main, timed_run

VOCAB_SIZE, SEQUENCE_LENGTH, BATCH_SIZE, EPOCHS, METRIC = 20000, 512, 64, 2, "accuracy"


class MaskedMean(keras.layers.Layer):
    """Mean of `[B, L, D]` over the positions where `mask` is True."""

    def call(self, x, mask):
        weights = keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1)
        count = keras.ops.maximum(keras.ops.sum(weights, axis=1), keras.ops.cast(1.0, x.dtype))
        return keras.ops.sum(x * weights, axis=1) / count

    def compute_output_shape(self, x_shape, mask_shape=None):
        return (x_shape[0], x_shape[2])


class NotPadding(keras.layers.Layer):
    """Token ids -> boolean mask, True where the id is not 0."""

    def call(self, ids):
        return keras.ops.not_equal(ids, 0)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype="bool")


def build_model(vocab_size: int = VOCAB_SIZE, max_length: int = SEQUENCE_LENGTH, d_model: int = 64) -> keras.Model:
    """The one-block Transformer classifier, compiled with default settings and the zoo's optimizer."""
    ids = keras.Input(shape=(None,), dtype="int32")
    mask = NotPadding()(ids)
    x = keras_hub.layers.TokenAndPositionEmbedding(vocab_size, max_length, d_model)(ids)
    x = keras.layers.Dropout(0.25)(x)
    x = keras_hub.layers.TransformerEncoder(intermediate_dim=128, num_heads=2, dropout=0.1)(x, padding_mask=mask)
    x = keras.layers.Dropout(0.3)(MaskedMean()(x, mask))
    model = keras.Model(ids, keras.layers.Dense(2)(x))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def load_arrays(data_dir: str | None, max_train_examples: int | None = None) -> dict:
    """IMDB as int32 id arrays `[N, 512]` and int labels, vocabulary learned on the training texts."""
    return load_imdb_arrays(data_dir, max_train_examples, VOCAB_SIZE, SEQUENCE_LENGTH)


epoch_data = same_arrays_every_epoch


def train_and_evaluate(arrays: dict, epochs: int = EPOCHS, seed: int = 0, verbose: int = 0) -> dict:
    """Fit on `arrays` for `epochs`, evaluate on the test arrays; the baseline's report (no data time)."""
    return fit_text_classifier(build_model, arrays, epochs, seed, BATCH_SIZE, "transformer_cls", verbose)


def run(data_dir: str | None, epochs: int = EPOCHS, seed: int = 0, max_train_examples: int | None = None,
        verbose: int = 0) -> dict:
    """Load IMDB, train, evaluate; `total_seconds` counts from the first read of the data."""
    return timed_run(lambda: load_arrays(data_dir, max_train_examples), train_and_evaluate, epochs, seed, verbose)


if __name__ == "__main__":
    script_main(sys.modules[__name__])
