"""Small serializable layers shared by the Transformer and BERT families (private module).

Token ids use 0 as padding throughout; masks are boolean `[B, L]` tensors, True for real tokens.
The builders compute the mask as `keras.ops.not_equal(token_ids, 0)` and BERT's segment ids as
`keras.ops.zeros_like(token_ids, dtype="int32")` directly in the functional graph (saved as op
nodes, which `keras.saving.load_model` accepts in safe mode).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over time of `[B, L, D]` features, counting only steps where `padding_mask` is True."""

    def call(self, inputs, padding_mask):
        weights = ops.expand_dims(ops.cast(padding_mask, inputs.dtype), -1)
        total = ops.sum(inputs * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, inputs.dtype))
        return total / count

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[2])


@keras.saving.register_keras_serializable(package="kzoo")
class LearnedQueries(keras.layers.Layer):
    """`num_queries` learned `dim`-vectors, broadcast to the batch of `reference` `[B, ...]`.

    Output `[B, num_queries, dim]`: the query tokens a Transformer decoder cross-attends with.
    """

    def __init__(self, num_queries: int, dim: int, initializer="truncated_normal", **kwargs):
        super().__init__(**kwargs)
        self.num_queries = num_queries
        self.dim = dim
        self.initializer = keras.initializers.get(initializer)

    def build(self, reference_shape=None):
        self.queries = self.add_weight(
            shape=(self.num_queries, self.dim), initializer=self.initializer, name="queries"
        )

    def call(self, reference):
        queries = ops.cast(self.queries, self.compute_dtype)
        batch = ops.shape(reference)[0]
        return ops.broadcast_to(queries[None], (batch, self.num_queries, self.dim))

    def compute_output_shape(self, reference_shape):
        return (reference_shape[0], self.num_queries, self.dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_queries": self.num_queries,
            "dim": self.dim,
            "initializer": keras.initializers.serialize(self.initializer),
        }


# --- Kept only so models saved before 2026-12-01 load. ----------------------------------------
# Those `.keras` files name these layers by registered name ("kzoo>PaddingMask", "kzoo>ZerosLike");
# the builders no longer use them (`keras.ops` calls compute the same tensors). Do not remove
# while such saved runs may still be loaded.


@keras.saving.register_keras_serializable(package="kzoo")
class PaddingMask(keras.layers.Layer):
    """Token ids `[B, L]` -> boolean mask `[B, L]`, True where the id is not `pad_id`."""

    def __init__(self, pad_id: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = pad_id

    def call(self, token_ids):
        return ops.not_equal(token_ids, self.pad_id)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="kzoo")
class ZerosLike(keras.layers.Layer):
    """Int zeros shaped like the input ids (BERT's segment ids for single-segment input)."""

    def call(self, token_ids):
        return ops.zeros_like(token_ids, dtype="int32")

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="int32")
