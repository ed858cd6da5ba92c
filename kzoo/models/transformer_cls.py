"""`transformer_cls`: token ids -> Transformer encoder -> learned queries cross-attend -> head.

The encoder is a stack of keras-hub `TransformerEncoder` blocks over token + position embeddings
with a padding mask (id 0). With `decoder_layers > 0`, `num_queries` learned query tokens pass
through `TransformerDecoder` blocks (non-causal self-attention among the queries, cross-attention
to the encoder output with the padding mask) and are averaged; with `decoder_layers = 0` the
encoder output is mean-pooled over the real tokens.
"""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from kzoo.models._transformer_blocks import LearnedQueries, MaskedMeanPooling
from kzoo.entries import register_model
from kzoo.schema import Fraction, NonNegativeInt, PositiveInt


def build_transformer_classifier(
    vocab_size: PositiveInt = 20000,
    max_length: PositiveInt = 512,
    d_model: PositiveInt = 64,
    num_heads: PositiveInt = 2,
    ff_dim: PositiveInt = 128,
    encoder_layers: NonNegativeInt = 1,
    decoder_layers: NonNegativeInt = 0,
    num_queries: PositiveInt = 1,
    normalize_first: bool = False,
    embedding_dropout: Fraction = 0.25,
    attention_dropout: Fraction = 0.1,
    dropout: Fraction = 0.3,
    num_classes: PositiveInt = 2,
    name: str = "transformer_cls",
) -> keras.Model:
    """Return a Transformer text classifier on int32 token ids `[B, L]` (0 = padding).

    `max_length` bounds L (size of the position table). `attention_dropout` is the dropout inside
    the Transformer blocks; `dropout` the one before the float32 logits `[B, num_classes]`.
    """
    if d_model % num_heads:
        raise ValueError(f"model.d_model ({d_model}) must be divisible by model.num_heads ({num_heads})")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = ops.not_equal(token_ids, 0)
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocab_size, max_length, d_model, name="embedding"
    )(token_ids)
    if embedding_dropout:
        x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    block = dict(
        intermediate_dim=ff_dim,
        num_heads=num_heads,
        dropout=attention_dropout,
        normalize_first=normalize_first,
    )
    for i in range(encoder_layers):
        x = keras_hub.layers.TransformerEncoder(**block, name=f"encoder_{i}")(x, padding_mask=mask)
    if normalize_first and encoder_layers:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(x)
    if decoder_layers:
        queries = LearnedQueries(num_queries, d_model, name="queries")(token_ids)
        for i in range(decoder_layers):
            queries = keras_hub.layers.TransformerDecoder(**block, name=f"decoder_{i}")(
                queries, x, encoder_padding_mask=mask, use_causal_mask=False
            )
        if normalize_first:
            queries = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(queries)
        x = keras.layers.GlobalAveragePooling1D(name="query_pool")(queries)
    else:
        x = MaskedMeanPooling(name="mean_pool")(x, mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(token_ids, logits, name=name)


@register_model(task="text_classification", builder=build_transformer_classifier)
def transformer_cls(**kwargs) -> keras.Model:
    """IMDB Transformer classifier; hyperparameters in `zoo_configs/transformer_cls.yaml`."""
    return build_transformer_classifier(**kwargs)
