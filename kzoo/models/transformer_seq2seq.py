"""`transformer_seq2seq`: encoder-decoder Transformer for translation (Vaswani et al., 2017).

The model is two nested functional models, so decoding can run the encoder once:
`encoder` (source ids `[B, S]` -> memory `[B, S, d_model]`) and `decoder` (target ids `[B, T]`,
memory and source ids for the padding mask -> float32 logits `[B, T, target_vocab_size]`).
Training uses teacher forcing on `{"encoder_inputs", "decoder_inputs"}`; `greedy_decode` is the
inference loop (cached, fixed-length `keras.ops.fori_loop`, so it traces inside a `tf.function`).
"""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from kzoo.entries import register_model
from kzoo.schema import Fraction, NonNegativeInt, PositiveInt


def _embed(ids, vocab_size, max_length, d_model, dropout, name):
    x = keras_hub.layers.TokenAndPositionEmbedding(
        vocab_size, max_length, d_model, name=f"{name}_embedding"
    )(ids)
    return keras.layers.Dropout(dropout, name=f"{name}_embedding_dropout")(x) if dropout else x


def _build_encoder(source_vocab_size, max_length, d_model, encoder_layers, block, dropout, normalize_first):
    source = keras.Input(shape=(None,), dtype="int32", name="encoder_inputs")
    mask = ops.not_equal(source, 0)
    x = _embed(source, source_vocab_size, max_length, d_model, dropout, "source")
    for i in range(encoder_layers):
        x = keras_hub.layers.TransformerEncoder(**block, name=f"encoder_{i}")(x, padding_mask=mask)
    if normalize_first:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(x)
    return keras.Model(source, x, name="encoder")


def _build_decoder(target_vocab_size, max_length, d_model, decoder_layers, block, dropout, normalize_first):
    target = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
    memory = keras.Input(shape=(None, d_model), name="encoder_outputs")
    source = keras.Input(shape=(None,), dtype="int32", name="encoder_inputs")
    source_mask = ops.not_equal(source, 0)
    x = _embed(target, target_vocab_size, max_length, d_model, dropout, "target")
    for i in range(decoder_layers):
        x = keras_hub.layers.TransformerDecoder(**block, name=f"decoder_{i}")(
            x, memory, encoder_padding_mask=source_mask, use_causal_mask=True
        )
    if normalize_first:
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(x)
    logits = keras.layers.Dense(target_vocab_size, dtype="float32", name="logits")(x)
    inputs = {"decoder_inputs": target, "encoder_outputs": memory, "encoder_inputs": source}
    return keras.Model(inputs, logits, name="decoder")


def build_transformer_seq2seq(
    source_vocab_size: PositiveInt = 10000,
    target_vocab_size: PositiveInt = 8000,
    max_length: PositiveInt = 64,
    d_model: PositiveInt = 256,
    num_heads: PositiveInt = 4,
    ff_dim: PositiveInt = 512,
    encoder_layers: NonNegativeInt = 3,
    decoder_layers: NonNegativeInt = 3,
    normalize_first: bool = False,
    dropout: Fraction = 0.1,
    name: str = "transformer_seq2seq",
) -> keras.Model:
    """Return an encoder-decoder Transformer on `{"encoder_inputs": [B, S], "decoder_inputs": [B, T]}`.

    Ids are int32 with 0 as padding; S and T must not exceed `max_length`. The decoder's
    self-attention is causal and its cross-attention skips source padding. Output: float32 logits
    `[B, T, target_vocab_size]` predicting the next target token at every position.
    """
    if d_model % num_heads:
        raise ValueError(f"model.d_model ({d_model}) must be divisible by model.num_heads ({num_heads})")
    block = dict(intermediate_dim=ff_dim, num_heads=num_heads, dropout=dropout, normalize_first=normalize_first)
    encoder = _build_encoder(source_vocab_size, max_length, d_model, encoder_layers, block, dropout, normalize_first)
    decoder = _build_decoder(target_vocab_size, max_length, d_model, decoder_layers, block, dropout, normalize_first)
    source = keras.Input(shape=(None,), dtype="int32", name="encoder_inputs")
    target = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
    memory = encoder(source)
    logits = decoder({"decoder_inputs": target, "encoder_outputs": memory, "encoder_inputs": source})
    return keras.Model({"encoder_inputs": source, "decoder_inputs": target}, logits, name=name)


def _decoder_parts(model: keras.Model) -> dict:
    """The layers of `model`'s decoder that cached decoding calls one by one."""
    decoder = model.get_layer("decoder")
    return {
        "embedding": decoder.get_layer("target_embedding"),
        "blocks": [layer for layer in decoder.layers if isinstance(layer, keras_hub.layers.TransformerDecoder)],
        "norm": [layer for layer in decoder.layers if layer.name == "decoder_norm"],
        "head": decoder.get_layer("logits"),
    }


def _cached_step(parts, token, index, memory, source_mask, caches, cross_index):
    """Run one target token `[B]` at position `index`; return next-token logits `[B, V]` and caches."""
    x = parts["embedding"](token[:, None], start_index=index)
    new_caches = []
    for block, (self_cache, cross_cache) in zip(parts["blocks"], caches):
        x, self_cache, cross_cache = block(
            x, memory, encoder_padding_mask=source_mask,
            self_attention_cache=self_cache, self_attention_cache_update_index=index,
            cross_attention_cache=cross_cache, cross_attention_cache_update_index=cross_index,
            training=False,
        )
        new_caches.append((self_cache, cross_cache))
    for layer in parts["norm"]:
        x = layer(x)
    return parts["head"](x)[:, 0], tuple(new_caches)


def greedy_decode(model: keras.Model, encoder_inputs, max_length: int, start_id: int, end_id: int):
    """Greedy decoding: return int32 `[B, max_length]` target ids for source ids `[B, S]`.

    Position t holds the token predicted after `[start_id, out[0], ..., out[t-1]]`, so the output
    lines up with the training labels (`decoder_inputs` shifted by one): it includes `end_id`
    where a sequence finishes, and 0 (padding) after it. Id 0 is never predicted. The encoder runs
    once; each step feeds one token through the decoder blocks with key/value caches. The loop is
    a `keras.ops.fori_loop` over a fixed `max_length` (at most the model's `max_length`), so it
    runs eagerly, under `jax.jit`, or inside a `tf.function` with an input signature `[None, S]`.
    `model` must come from `build_transformer_seq2seq` (it reads its `encoder`/`decoder` parts).
    """
    parts = _decoder_parts(model)
    embedding = parts["embedding"]
    if max_length > embedding.sequence_length:
        raise ValueError(f"max_length {max_length} exceeds the model's max_length {embedding.sequence_length}")
    source = ops.cast(encoder_inputs, "int32")
    source_mask = ops.not_equal(source, 0)
    memory = model.get_layer("encoder")(source, training=False)
    batch, source_length = ops.shape(source)[0], ops.shape(source)[1]
    positions = ops.arange(max_length, dtype="int32")[None, :]

    def zeros(block, length):  # a key/value cache [B, 2, length, heads, head_dim]
        heads = block.num_heads
        return ops.zeros((batch, 2, length, heads, embedding.embedding_dim // heads), block.compute_dtype)

    def step(i, state, cross_index):
        token, outputs, done, caches = state
        logits, caches = _cached_step(parts, token, i, memory, source_mask, caches, cross_index)
        token = ops.cast(ops.argmax(logits[:, 1:], axis=-1), "int32") + 1  # never the padding id
        token = ops.where(done, 0, token)
        outputs = ops.where(positions == i, token[:, None], outputs)
        return token, outputs, ops.logical_or(done, ops.equal(token, end_id)), caches

    caches = tuple((zeros(b, max_length), zeros(b, source_length)) for b in parts["blocks"])
    state = (ops.full((batch,), start_id, "int32"), ops.zeros((batch, max_length), "int32"),
             ops.zeros((batch,), "bool"), caches)
    state = step(0, state, cross_index=0)  # position 0 also fills the cross-attention caches
    state = ops.fori_loop(1, max_length, lambda i, s: step(i, s, cross_index=None), state)
    return state[1]


@register_model(task="seq2seq", builder=build_transformer_seq2seq)
def transformer_seq2seq(**kwargs) -> keras.Model:
    """Multi30k de->en Transformer; hyperparameters in `zoo_configs/transformer_seq2seq.yaml`."""
    return build_transformer_seq2seq(**kwargs)
