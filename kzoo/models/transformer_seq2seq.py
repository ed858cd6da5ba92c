"""`transformer_seq2seq`: encoder-decoder Transformer for translation (Vaswani et al., 2017).

The model is two nested functional models, so decoding can run the encoder once:
`encoder` (source ids `[B, S]` -> memory `[B, S, d_model]`) and `decoder` (target ids `[B, T]`,
memory and source ids for the padding mask -> float32 logits `[B, T, target_vocab_size]`).
Training uses teacher forcing on `{"encoder_inputs", "decoder_inputs"}`; `greedy_decode` is the
inference loop, `beam_decode` its beam-search counterpart (both cached `keras.ops.while_loop`s that
stop once every sequence has ended, so they trace inside a `tf.function`).
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


def _decoding_start(model: keras.Model, encoder_inputs, max_length: int, copies: int = 1):
    """Encoder memory, source mask and empty key/value caches for `copies` hypotheses per source row."""
    parts = _decoder_parts(model)
    embedding = parts["embedding"]
    if max_length > embedding.sequence_length:
        raise ValueError(f"max_length {max_length} exceeds the model's max_length {embedding.sequence_length}")
    source = ops.cast(encoder_inputs, "int32")
    memory = model.get_layer("encoder")(source, training=False)
    if copies > 1:
        source, memory = ops.repeat(source, copies, axis=0), ops.repeat(memory, copies, axis=0)
    rows, source_length = ops.shape(source)[0], ops.shape(source)[1]

    def zeros(block, length):  # a key/value cache [rows, 2, length, heads, head_dim]
        heads = block.num_heads
        return ops.zeros((rows, 2, length, heads, embedding.embedding_dim // heads), block.compute_dtype)

    caches = tuple((zeros(b, max_length), zeros(b, source_length)) for b in parts["blocks"])
    return parts, memory, ops.not_equal(source, 0), caches


def greedy_decode(model: keras.Model, encoder_inputs, max_length: int, start_id: int, end_id: int):
    """Greedy decoding: return int32 `[B, max_length]` target ids for source ids `[B, S]`.

    Position t holds the token predicted after `[start_id, out[0], ..., out[t-1]]`, so the output
    lines up with the training labels (`decoder_inputs` shifted by one): it includes `end_id`
    where a sequence finishes, and 0 (padding) after it. Id 0 is never predicted. The encoder runs
    once; each step feeds one token through the decoder blocks with key/value caches. The loop is
    a `keras.ops.while_loop` that stops once every row has ended (at most `max_length` steps, at
    most the model's `max_length`), so it runs eagerly, under `jax.jit`, or inside a `tf.function`
    with an input signature `[None, S]`. `model` must come from `build_transformer_seq2seq`.
    """
    parts, memory, source_mask, caches = _decoding_start(model, encoder_inputs, max_length)
    positions = ops.arange(max_length, dtype="int32")[None, :]

    def step(i, token, outputs, done, caches, cross_index=None):
        logits, caches = _cached_step(parts, token, i, memory, source_mask, caches, cross_index)
        # top_k rather than argmax (the same first index on ties): Keras' TensorFlow argmax adds a
        # Bitcast/BitwiseAnd test for -0.0 that LiteRT has no builtin for.
        token = ops.cast(ops.top_k(logits[:, 1:], 1)[1][:, 0], "int32") + 1  # never the padding id
        token = ops.where(done, 0, token)
        outputs = ops.where(positions == i, token[:, None], outputs)
        return i + 1, token, outputs, ops.logical_or(done, ops.equal(token, end_id)), caches

    batch = ops.shape(memory)[0]
    state = (ops.full((batch,), start_id, "int32"), ops.zeros((batch, max_length), "int32"),
             ops.zeros((batch,), "bool"), caches)
    state = step(0, *state, cross_index=0)  # position 0 also fills the cross-attention caches
    state = ops.while_loop(lambda i, token, outputs, done, caches: _unfinished(i, done, max_length),
                           step, state)
    return state[2]


def _unfinished(i, done, max_length):
    return ops.logical_and(ops.less(i, max_length), ops.logical_not(ops.all(done)))


_IMPOSSIBLE = -1e9  # a log-probability no hypothesis reaches (finite, so sums never give NaN)


def beam_search(model: keras.Model, encoder_inputs, max_length: int, start_id: int, end_id: int,
                beam_size: int = 4, length_penalty: float = 0.0):
    """Beam search: `(ids [B, beam_size, max_length] int32, log_probs [B, beam_size] float32)`, best first.

    Each row keeps the `beam_size` prefixes of highest total log-probability (log-softmax over the whole
    target vocabulary); padding (id 0) is never predicted. A hypothesis that emits `end_id` is kept
    with its score frozen and 0s after it (greedy's layout), and the loop stops once every hypothesis
    of every row has ended, or after `max_length` steps. The hypotheses are finally ordered by
    `log_prob / ((5 + length) / 6) ** length_penalty` (GNMT's length normalisation; 0 = raw log-probability),
    where length counts the tokens up to and including `end_id`; `log_probs` are the raw sums.
    `beam_size=1` is greedy decoding.

    Written here rather than taken from `keras_hub.samplers.BeamSampler` because that sampler keeps
    extending a hypothesis after its end token (adding the log-probabilities of tokens after [END] to its
    score) and has no length normalisation; it would also need a prompt buffer per beam.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    parts, memory, source_mask, caches = _decoding_start(model, encoder_inputs, max_length, copies=beam_size)
    vocab = int(parts["head"].units)
    rows = ops.shape(memory)[0]
    batch = rows // beam_size
    positions = ops.arange(max_length, dtype="int32")[None, :]
    is_padding = ops.equal(ops.arange(vocab, dtype="int32"), 0)[None, :]
    # The next-token log-probabilities of a hypothesis that has ended: padding at no cost, nothing else.
    ended = ops.where(is_padding, 0.0, _IMPOSSIBLE)
    first_in_row = ops.arange(batch, dtype="int32")[:, None] * beam_size

    def step(i, token, ids, scores, done, caches, cross_index=None):
        logits, caches = _cached_step(parts, token, i, memory, source_mask, caches, cross_index)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        log_probs = ops.where(done[:, None], ended, ops.where(is_padding, _IMPOSSIBLE, log_probs))
        candidates = ops.reshape(scores[:, None] + log_probs, (-1, beam_size * vocab))
        top_scores, top = ops.top_k(candidates, beam_size)  # [B, beam]
        parent = ops.reshape(ops.cast(top // vocab, "int32") + first_in_row, (-1,))
        token = ops.reshape(ops.cast(top % vocab, "int32"), (-1,))
        ids, done = ops.take(ids, parent, axis=0), ops.take(done, parent, axis=0)
        caches = tuple((ops.take(own, parent, axis=0), ops.take(cross, parent, axis=0)) for own, cross in caches)
        ids = ops.where(positions == i, token[:, None], ids)
        done = ops.logical_or(done, ops.equal(token, end_id))
        return i + 1, token, ids, ops.reshape(top_scores, (-1,)), done, caches

    # Every row starts as beam_size copies of one hypothesis; only the first may expand at step 0.
    scores = ops.reshape(ops.tile(ops.convert_to_tensor([[0.0] + [_IMPOSSIBLE] * (beam_size - 1)]), (batch, 1)),
                         (-1,))
    state = (ops.full((rows,), start_id, "int32"), ops.zeros((rows, max_length), "int32"), scores,
             ops.zeros((rows,), "bool"), caches)
    state = step(0, *state, cross_index=0)
    state = ops.while_loop(lambda i, token, ids, scores, done, caches: _unfinished(i, done, max_length),
                           step, state)
    ids, scores = ops.reshape(state[2], (-1, beam_size, max_length)), ops.reshape(state[3], (-1, beam_size))
    lengths = ops.cast(ops.count_nonzero(ids, axis=-1), "float32")
    order = ops.argsort(-(scores / ((5.0 + lengths) / 6.0) ** length_penalty), axis=-1)
    return (ops.take_along_axis(ids, order[:, :, None], axis=1), ops.take_along_axis(scores, order, axis=1))


def beam_decode(model: keras.Model, encoder_inputs, max_length: int, start_id: int, end_id: int,
                beam_size: int = 4, length_penalty: float = 0.0):
    """The best hypothesis of `beam_search`: int32 `[B, max_length]`, laid out as `greedy_decode`'s."""
    ids, _ = beam_search(model, encoder_inputs, max_length, start_id, end_id, beam_size, length_penalty)
    return ids[:, 0]


def decode(model: keras.Model, encoder_inputs, max_length: int, start_id: int, end_id: int,
           beam_size: int = 1, length_penalty: float = 0.0):
    """`greedy_decode` when `beam_size` is 1, else `beam_decode`: int32 `[B, max_length]` target ids."""
    if beam_size == 1:
        return greedy_decode(model, encoder_inputs, max_length, start_id, end_id)
    return beam_decode(model, encoder_inputs, max_length, start_id, end_id, beam_size, length_penalty)


@register_model(task="seq2seq", builder=build_transformer_seq2seq)
def transformer_seq2seq(**kwargs) -> keras.Model:
    """Multi30k de->en Transformer; hyperparameters in `zoo_configs/transformer_seq2seq.yaml`."""
    return build_transformer_seq2seq(**kwargs)
