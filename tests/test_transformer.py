"""Transformer entries beyond the registry battery: masks, causality, greedy decoding, learning."""

import zipfile

import numpy as np
import pytest
import keras
import tensorflow as tf
from keras import ops

import kzoo
from kzoo.models._transformer_blocks import MaskedMeanPooling, PaddingMask, ZerosLike
from kzoo.models.transformer_seq2seq import beam_decode, beam_search, greedy_decode

START, END = 1, 2

CLS_TINY = dict(vocab_size=50, max_length=24, d_model=8, num_heads=2, ff_dim=16)
S2S_TINY = dict(source_vocab_size=30, target_vocab_size=20, max_length=12, d_model=16, num_heads=2,
                ff_dim=32, encoder_layers=1, decoder_layers=2)


def padded_ids(rng, batch, length, vocab, keep):
    ids = rng.integers(1, vocab, size=(batch, length)).astype("int32")
    ids[:, keep:] = 0
    return ids


@pytest.mark.parametrize("decoder_layers,num_queries", [(0, 1), (1, 1), (2, 3)])
def test_classifier_ignores_appended_padding(decoder_layers, num_queries):
    model = kzoo.build("transformer_cls", compile=False, decoder_layers=decoder_layers,
                       num_queries=num_queries, **CLS_TINY)
    x = padded_ids(np.random.default_rng(0), 3, 10, 50, keep=7)
    longer = np.concatenate([x, np.zeros((3, 6), "int32")], axis=1)
    np.testing.assert_allclose(model(longer), model(x), atol=1e-5)
    # ... while the real tokens do matter.
    changed = x.copy()
    changed[:, 3] = (changed[:, 3] % 49) + 1
    assert np.abs(np.asarray(model(changed)) - np.asarray(model(x))).max() > 1e-6


def test_decoder_free_variant_is_masked_mean_pooling_and_trains():
    model = kzoo.build("transformer_cls", decoder_layers=0, **CLS_TINY)
    names = [layer.name for layer in model.layers]
    assert "mean_pool" in names and not any(n.startswith("decoder_") or n == "queries" for n in names)
    x = padded_ids(np.random.default_rng(1), 16, 12, 50, keep=9)
    y = np.arange(16) % 2
    keras.utils.set_random_seed(0)
    model.optimizer.learning_rate.assign(0.01)
    losses = model.fit(x, y, epochs=20, verbose=0).history["loss"]
    assert min(losses[-3:]) < 0.7 * losses[0]


def test_seq2seq_is_causal_and_ignores_source_padding():
    model = kzoo.build("transformer_seq2seq", compile=False, **S2S_TINY)
    rng = np.random.default_rng(0)
    source = padded_ids(rng, 2, 8, 30, keep=5)
    target = rng.integers(1, 20, size=(2, 7)).astype("int32")
    base = np.asarray(model({"encoder_inputs": source, "decoder_inputs": target}))
    for t in (0, 3, 6):
        changed = target.copy()
        changed[:, t] = (changed[:, t] % 19) + 1
        out = np.asarray(model({"encoder_inputs": source, "decoder_inputs": changed}))
        np.testing.assert_allclose(out[:, :t], base[:, :t], atol=1e-5)
        assert np.abs(out[:, t:] - base[:, t:]).max() > 1e-6
    longer = np.concatenate([source, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(model({"encoder_inputs": longer, "decoder_inputs": target}), base, atol=1e-5)


def reference_greedy(model, source, max_length):
    """Step-by-step greedy decoding with the full model on a growing prefix, in NumPy."""
    prefix = np.full((len(source), 1), START, "int32")
    out = np.zeros((len(source), max_length), "int32")
    done = np.zeros(len(source), bool)
    for t in range(max_length):
        logits = np.asarray(model({"encoder_inputs": source, "decoder_inputs": prefix}, training=False))
        token = np.where(done, 0, logits[:, -1, 1:].argmax(-1) + 1).astype("int32")
        out[:, t] = token
        done |= token == END
        prefix = np.concatenate([prefix, token[:, None]], axis=1)
    return out


def copy_task(rng, n, length, vocab):
    """Source: random ids >= 3 with random lengths; target: [START] + the source + [END]."""
    source = np.zeros((n, length), "int32")
    target = np.zeros((n, length + 2), "int32")
    for i, k in enumerate(rng.integers(2, length + 1, size=n)):
        source[i, :k] = rng.integers(3, vocab, size=k)
        target[i, : k + 2] = [START, *source[i, :k], END]
    return source, target[:, :-1], target[:, 1:]


@pytest.fixture(scope="module")
def copy_model():
    """A tiny seq2seq trained for a few seconds to copy sequences of 2-5 ids."""
    keras.utils.set_random_seed(0)
    config = kzoo.get_config("transformer_seq2seq", {
        **{f"model.{k}": v for k, v in S2S_TINY.items()},
        "model.source_vocab_size": 10, "model.target_vocab_size": 10, "model.d_model": 32,
        "model.ff_dim": 64, "model.encoder_layers": 1, "model.decoder_layers": 1, "model.dropout": 0.0,
        "train.learning_rate": 0.005, "train.schedule": "constant",
    })
    model = kzoo.build_from_config(config)
    source, decoder_inputs, labels = copy_task(np.random.default_rng(0), 2048, 5, 10)
    model.fit({"encoder_inputs": source, "decoder_inputs": decoder_inputs}, labels,
              batch_size=64, epochs=8, verbose=0)
    return model


def test_seq2seq_learns_to_copy(copy_model):
    source, decoder_inputs, labels = copy_task(np.random.default_rng(1), 256, 5, 10)
    result = copy_model.evaluate({"encoder_inputs": source, "decoder_inputs": decoder_inputs}, labels,
                                 verbose=0, return_dict=True)
    assert result["accuracy"] > 0.8  # chance is ~1/9


def test_greedy_decode_in_tf_function_matches_step_by_step_reference(copy_model):
    source, _, labels = copy_task(np.random.default_rng(2), 16, 5, 10)
    max_length = 8

    @tf.function(input_signature=[tf.TensorSpec([None, source.shape[1]], tf.int32)])
    def serve(encoder_inputs):
        return greedy_decode(copy_model, encoder_inputs, max_length, START, END)

    decoded = serve(tf.constant(source)).numpy()
    assert decoded.dtype == np.int32 and decoded.shape == (16, max_length)
    np.testing.assert_array_equal(decoded, reference_greedy(copy_model, source, max_length))
    np.testing.assert_array_equal(decoded, np.asarray(greedy_decode(copy_model, source, max_length, START, END)))
    # It stops at [END]: one END per row, zeros after it; and it mostly copies correctly.
    for row in decoded:
        ends = np.flatnonzero(row == END)
        assert len(ends) == 1 and not row[ends[0] + 1:].any()
    exact = np.mean([np.array_equal(d[: len(l)], l) for d, l in zip(decoded, labels[:, :max_length])])
    assert exact > 0.5


def test_greedy_decode_on_an_untrained_model_never_emits_padding():
    model = kzoo.build("transformer_seq2seq", compile=False, **S2S_TINY)
    source = padded_ids(np.random.default_rng(3), 4, 6, 30, keep=4)
    decoded = np.asarray(greedy_decode(model, source, 10, START, END))
    np.testing.assert_array_equal(decoded, reference_greedy(model, source, 10))
    first_end = [np.flatnonzero(r == END)[0] if (r == END).any() else 10 for r in decoded]
    assert all((r[: k + 1] > 0).all() for r, k in zip(decoded, first_end))


def test_beam_search_of_width_one_is_greedy_decoding(copy_model):
    untrained = kzoo.build("transformer_seq2seq", compile=False, **S2S_TINY)
    for model, source in [(copy_model, copy_task(np.random.default_rng(6), 32, 5, 10)[0]),
                          (untrained, padded_ids(np.random.default_rng(7), 8, 6, 30, keep=4))]:
        np.testing.assert_array_equal(np.asarray(beam_decode(model, source, 8, START, END, beam_size=1)),
                                      np.asarray(greedy_decode(model, source, 8, START, END)))


def teacher_forced_log_prob(model, source, sequences):
    """Sum of log-softmax(logits)[token] over each sequence's tokens up to and including its first END."""
    prefix = np.concatenate([np.full((len(sequences), 1), START, "int32"), sequences[:, :-1]], axis=1)
    logits = np.asarray(model({"encoder_inputs": source, "decoder_inputs": prefix}, training=False), "float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, sequences[:, :, None], axis=-1)[:, :, 0]
    return (picked * (sequences > 0)).sum(-1)


def every_hypothesis(vocab, length):
    """Each output beam search can produce: tokens 1..vocab-1, stopping at END, 0s after it."""
    found = []
    def grow(prefix):
        if prefix and prefix[-1] == END or len(prefix) == length:
            found.append(prefix + [0] * (length - len(prefix)))
            return
        for token in range(1, vocab):
            grow(prefix + [token])
    grow([])
    return np.array(found, "int32")


def test_a_beam_as_wide_as_every_hypothesis_finds_the_most_probable_one_with_its_log_prob():
    """With room for every hypothesis, beam search is exhaustive: its scores are the model's log-probabilities
    (so the key/value caches follow their beams) and its best is the brute-force best."""
    model = kzoo.build("transformer_seq2seq", compile=False, **{**S2S_TINY, "target_vocab_size": 5})
    source = padded_ids(np.random.default_rng(8), 2, 6, 30, keep=5)
    every = every_hypothesis(5, 3)
    assert len(every) == 40
    ids, scores = beam_search(model, source, 3, START, END, beam_size=len(every))
    ids, scores = np.asarray(ids), np.asarray(scores)
    for row in range(len(source)):
        truth = teacher_forced_log_prob(model, np.repeat(source[row:row + 1], len(every), 0), every)
        np.testing.assert_allclose(scores[row], np.sort(truth)[::-1], atol=1e-4)
        np.testing.assert_array_equal(ids[row, 0], every[truth.argmax()])
        np.testing.assert_allclose(teacher_forced_log_prob(model, np.repeat(source[row:row + 1], len(every), 0),
                                                           ids[row]), scores[row], atol=1e-4)


def test_beam_decode_traces_and_ends_each_row_once(copy_model):
    source = copy_task(np.random.default_rng(9), 16, 5, 10)[0]

    @tf.function(input_signature=[tf.TensorSpec([None, source.shape[1]], tf.int32)])
    def serve(encoder_inputs):
        return beam_decode(copy_model, encoder_inputs, 8, START, END, beam_size=3, length_penalty=0.6)

    decoded = serve(tf.constant(source)).numpy()
    np.testing.assert_array_equal(decoded, np.asarray(beam_decode(copy_model, source, 8, START, END, 3, 0.6)))
    for row in decoded:
        ends = np.flatnonzero(row == END)
        assert len(ends) == 1 and not row[ends[0] + 1:].any() and (row[:ends[0]] > 0).all()
    ids, scores = beam_search(copy_model, source, 8, START, END, beam_size=3)
    assert (np.diff(np.asarray(scores), axis=1) <= 1e-6).all()  # best first
    greedy = greedy_decode(copy_model, source, 8, START, END)
    assert (np.asarray(scores)[:, 0] >= teacher_forced_log_prob(copy_model, source, np.asarray(greedy)) - 1e-4).all()


def test_models_saved_with_the_removed_mask_layers_still_load(tmp_path):
    """`.keras` files saved before 2026-12-01 name `kzoo>PaddingMask` / `kzoo>ZerosLike`; they still load."""
    def tiny(mask_of, zeros_of):
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(20, 4, name="embedding")(ids)
        pooled = MaskedMeanPooling(name="mean_pool")(x, mask_of(ids))
        return keras.Model(ids, [pooled, zeros_of(ids)])

    old = tiny(PaddingMask(name="padding_mask"), ZerosLike(name="segment_ids"))
    new = tiny(lambda ids: ops.not_equal(ids, 0), lambda ids: ops.zeros_like(ids, dtype="int32"))
    new.set_weights(old.get_weights())
    x = padded_ids(np.random.default_rng(4), 3, 6, 20, keep=4)
    old.save(tmp_path / "old.keras")
    restored = keras.saving.load_model(tmp_path / "old.keras")
    assert {type(layer).__name__ for layer in restored.layers} >= {"PaddingMask", "ZerosLike"}
    for got, want, ops_graph in zip(restored(x), old(x), new(x)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(ops_graph), np.asarray(want))


@pytest.mark.parametrize("name,kwargs", [
    ("transformer_cls", dict(CLS_TINY, decoder_layers=1)),
    ("bert_cls", dict(vocab_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                      max_sequence_length=24)),
    ("transformer_seq2seq", S2S_TINY),
])
def test_masks_are_keras_ops_that_load_in_safe_mode(name, kwargs, tmp_path):
    model = kzoo.build(name, compile=False, **kwargs)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    config = zipfile.ZipFile(path).read("config.json").decode()
    assert '"NotEqual"' in config  # an op node, not a Lambda (which safe mode refuses)
    assert not any(word in config for word in ('"Lambda"', '"kzoo>PaddingMask"', '"kzoo>ZerosLike"'))
    x = padded_ids(np.random.default_rng(5), 2, 6, 20, keep=4)
    inputs = {"encoder_inputs": x, "decoder_inputs": x % 19 + 1} if name == "transformer_seq2seq" else x
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(restored(inputs)), np.asarray(model(inputs)))
