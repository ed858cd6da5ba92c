"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018), entry `sasrec`.

The model reads a user's history as a sequence and predicts the next item at every position:

    item_ids int32 [B, T] -> logits float32 [B, T, num_items + 1]     (T <= max_length)

`item_ids` are item indices from the run's id maps (1..num_items) in time order, oldest first,
right-aligned and left-padded with 0 (the padding index, also the out-of-vocabulary one), so the
last position's output is the prediction of the item that comes next. Column 0 of the logits
(padding) is never a target and never recommended.

- Item embedding (scaled by sqrt(hidden_size), as in the paper's code) plus a learned position
  embedding counted from the end (`RecentPositionEmbedding`: the most recent item always has the
  same position vector, as in SASRec's left-padded windows, while a batch may be trimmed to its
  longest history), dropout, padded positions zeroed;
- `num_blocks` keras-hub `TransformerEncoder` blocks (pre-layer-norm, as SASRec; ReLU feed-forward
  of width `hidden_size`) under a causal mask: position t attends to the real items at positions
  <= t only;
- a final layer norm gives each position's sequence state (`sequence_state`, [B, L, hidden_size]);
- scores = state . item embedding: the output layer is the item table itself (keras-hub
  `ReversibleEmbedding`, tied), so the model can score the catalogue as one matrix product.

`sequence_parts(model)` returns the state sub-model and the item table, which evaluation and
serving use to score only the last position (one [B, d] x [d, N + 1] product) instead of all L.
Only `keras.ops` / `keras.layers` (and keras-hub layers built on them): it runs on TensorFlow and JAX.
"""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from kzoo.entries import register_model
from kzoo.errors import ConfigError
from kzoo.schema import Fraction, PositiveInt

# Layer names serving and evaluation read a saved model through: they never change.
ITEM_EMBEDDING, SEQUENCE_STATE, POSITIONS = "item_embedding", "sequence_state", "position_embedding"


@keras.saving.register_keras_serializable(package="kzoo")
class CausalPaddingMask(keras.layers.Layer):
    """Item ids `[B, L]` (0 = padding) -> bool attention mask `[B, L, L]`: query t may attend to key s
    when s <= t and s holds a real item. A query row with no real key (a padded position) is
    all False; Keras's masked softmax then spreads it evenly, and its output is ignored (no target)."""

    def call(self, item_ids):
        length = ops.shape(item_ids)[1]
        positions = ops.arange(length)
        causal = ops.greater_equal(ops.expand_dims(positions, 1), ops.expand_dims(positions, 0))  # [L, L]
        real = ops.expand_dims(ops.not_equal(item_ids, 0), 1)  # [B, 1, L]: the keys
        return ops.logical_and(ops.expand_dims(causal, 0), real)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[1])


@keras.saving.register_keras_serializable(package="kzoo")
class RecentPositionEmbedding(keras.layers.Layer):
    """Learned positions counted from the end of a right-aligned history: `[B, T, d]` in, the `[B, T, d]`
    position vectors out, the last step (the most recent item) always row `max_length - 1` of the
    table whatever T (at most `max_length`). So a batch trimmed to its longest history (the training
    batches are) and a full `max_length` window give each item the same position vector."""

    def __init__(self, max_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.max_length, input_shape[-1]), initializer=self.initializer,
                                     name="positions")

    def call(self, inputs):
        steps = ops.shape(inputs)[1]
        rows = ops.take(ops.cast(self.table, self.compute_dtype), ops.arange(self.max_length - steps, self.max_length),
                        axis=0)
        return ops.broadcast_to(ops.expand_dims(rows, 0), ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length,
                "initializer": keras.initializers.serialize(self.initializer)}


def build_sasrec(
    num_items: PositiveInt = 1682,
    max_length: PositiveInt = 200,
    hidden_size: PositiveInt = 64,
    num_blocks: PositiveInt = 2,
    num_heads: PositiveInt = 1,
    dropout: Fraction = 0.2,
    name: str = "sasrec",
) -> keras.Model:
    """SASRec over `num_items` items and histories of `max_length` (the run's data fills both:
    `data.max_length` and the id maps' item count). `hidden_size` must divide by `num_heads`."""
    if hidden_size % num_heads:
        raise ConfigError(f"model.hidden_size ({hidden_size}) must be a multiple of model.num_heads ({num_heads})")
    item_ids = keras.Input(shape=(None,), dtype="int32", name="item_ids")  # up to max_length steps
    items = keras_hub.layers.ReversibleEmbedding(
        num_items + 1, hidden_size, tie_weights=True,
        embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02), name=ITEM_EMBEDDING)
    x = items(item_ids) * float(hidden_size) ** 0.5
    x = x + RecentPositionEmbedding(max_length, name=POSITIONS)(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    x = x * ops.expand_dims(ops.cast(ops.not_equal(item_ids, 0), x.dtype), -1)  # padding stays zero
    mask = CausalPaddingMask(name="causal_mask")(item_ids)
    for i in range(num_blocks):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=hidden_size, num_heads=num_heads, dropout=dropout, activation="relu",
            normalize_first=True, layer_norm_epsilon=1e-8, name=f"block_{i}")(x, attention_mask=mask)
    state = keras.layers.LayerNormalization(epsilon=1e-8, name=SEQUENCE_STATE)(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(items(state, reverse=True))
    return keras.Model(item_ids, logits, name=name)


def sequence_parts(model: keras.Model) -> dict | None:
    """`{"last_state": a model item_ids [B, L] -> the last position's sequence state [B, d], "items": the item
    Embedding layer (its `.embeddings` [num_items + 1, d] is the output layer), "max_length": L}`, sharing
    the model's weights; None for a model without those layers.

    The logits of the last position are `last_state(x) @ items.embeddings.T`, the model's own
    `logits[:, -1]` (tests/test_sasrec.py checks it), one product instead of L.
    """
    names = {layer.name for layer in model.layers}
    if not {ITEM_EMBEDDING, SEQUENCE_STATE, POSITIONS} <= names:
        return None
    item_ids = model.inputs[0]
    last = model.get_layer(SEQUENCE_STATE).output[:, -1, :]
    return {"last_state": keras.Model(item_ids, last, name=f"{model.name}_last_state"),
            "items": model.get_layer(ITEM_EMBEDDING), "max_length": model.get_layer(POSITIONS).max_length}


@register_model(task="sequential_recommendation", builder=build_sasrec)
def sasrec(**kwargs) -> keras.Model:
    """SASRec (Kang & McAuley 2018), next-item prediction over a user's ordered history; `zoo_configs/sasrec.yaml`."""
    return build_sasrec(**kwargs)
