"""Hand-written baseline for kzoo's `lstm`: IMDB into NumPy, a BiLSTM built by hand, plain `model.fit`.

Same architecture and batch size as `zoo_configs/lstm.yaml` (vocabulary 20,000, length 512,
embedding 24 with mask, SpatialDropout 0.3, BiLSTM 32 returning sequences, masked max pooling,
dropout 0.5, Dense(2) logits; Adam 1e-3; batch 64; 3 epochs). Everything else is Keras's
default: TextVectorization's own standardisation, `compile` and `fit` settings, no validation.

    python -m kzoo.bench.baselines.lstm --data-dir ../shared/datasets/tfds [--epochs 3] [--max-train-examples N]
"""

from __future__ import annotations

import sys

import keras

from ._shared import fit_text_classifier, load_imdb_arrays, same_arrays_every_epoch, script_main, timed_run

VOCAB_SIZE, SEQUENCE_LENGTH, BATCH_SIZE, EPOCHS, METRIC = 20000, 512, 64, 3, "accuracy"


class MaskedMaxPooling(keras.layers.Layer):
    """Max over the unpadded time steps (GlobalMaxPooling1D would ignore the mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return keras.ops.max(x, axis=1)
        mask = keras.ops.expand_dims(keras.ops.cast(mask, "bool"), -1)
        pooled = keras.ops.max(keras.ops.where(mask, x, keras.ops.full_like(x, -1e9)), axis=1)
        return keras.ops.where(keras.ops.any(mask, axis=1), pooled, keras.ops.zeros_like(pooled))

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_model(vocab_size: int = VOCAB_SIZE, embedding_dim: int = 24, units: int = 32) -> keras.Model:
    """The BiLSTM classifier, compiled with Keras defaults (Adam 1e-3)."""
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True)(ids)
    x = keras.layers.SpatialDropout1D(0.3)(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))(x)
    x = MaskedMaxPooling()(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(ids, keras.layers.Dense(2)(x))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def load_arrays(data_dir: str | None, max_train_examples: int | None = None) -> dict:
    """IMDB as int32 id arrays `[N, 512]` and int labels, vocabulary learned on the training texts."""
    return load_imdb_arrays(data_dir, max_train_examples, VOCAB_SIZE, SEQUENCE_LENGTH)


epoch_data = same_arrays_every_epoch


def train_and_evaluate(arrays: dict, epochs: int = EPOCHS, seed: int = 0, verbose: int = 0) -> dict:
    """Fit on `arrays` for `epochs`, evaluate on the test arrays; the baseline's report (no data time)."""
    return fit_text_classifier(build_model, arrays, epochs, seed, BATCH_SIZE, "lstm", verbose)


def run(data_dir: str | None, epochs: int = EPOCHS, seed: int = 0, max_train_examples: int | None = None,
        verbose: int = 0) -> dict:
    """Load IMDB, train, evaluate; `total_seconds` counts from the first read of the data."""
    return timed_run(lambda: load_arrays(data_dir, max_train_examples), train_and_evaluate, epochs, seed, verbose)


if __name__ == "__main__":
    script_main(sys.modules[__name__])
