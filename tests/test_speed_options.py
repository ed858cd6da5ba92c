"""Speed options kept by the issue-6 measurements: length-sorted text batches, XLA and steps per execution from the config."""

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data import pipeline
from kzoo.tasks import load_data
from kzoo.tasks import compile_model


def _padded_rows(n=300, length=128, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, length + 1, n)
    ids = np.zeros((n, length), np.int32)
    for row, k in enumerate(lengths):
        ids[row, :k] = rng.integers(1, 50, k)
    return ids, lengths


def test_length_sorted_batches_keep_every_row_and_trim_only_padding():
    ids, lengths = _padded_rows()
    chunks = pipeline.finish(tf.data.Dataset.from_tensor_slices((ids, np.arange(len(ids)))), 32 * 3, len(ids),
                             training=True, seed=0, shuffle_buffer=len(ids))
    batches = pipeline.length_sorted_batches(chunks, 32, len(ids), round_to=16, shuffle_seed=0)
    assert int(batches.cardinality()) == -(-len(ids) // 32)
    seen = []
    for x, rows in batches:
        rows = rows.numpy()
        assert x.shape[1] % 16 == 0 and x.shape[1] >= lengths[rows].max()
        np.testing.assert_array_equal(x.numpy(), ids[rows, : x.shape[1]])
        seen += rows.tolist()
    assert sorted(seen) == list(range(len(ids)))


@pytest.mark.parametrize("name", ["lstm", "transformer_cls", "bert_cls"])
def test_masked_text_models_give_the_same_logits_on_trimmed_batches(name, tiny_config):
    config = tiny_config(name, **{"data.sequence_length": 16, "model.dropout": 0.0})
    model = kzoo.build_from_config(config, compile=False)
    ids, lengths = _padded_rows(n=8, length=16, seed=1)
    ids[:, 10:] = 0  # every row ends in padding: trimming drops columns 10..15
    full = model(ids, training=False)
    trimmed = model(ids[:, :10], training=False)
    np.testing.assert_allclose(full, trimmed, atol=1e-5)


def test_text_loader_with_length_sorted_chunks_keeps_the_epoch(tiny_config):
    plain = tiny_config("lstm", **{"data.synthetic_size": 200})
    sorted_ = tiny_config("lstm", **{"data.synthetic_size": 200, "data.length_sorted_chunks": 4})
    a, b = (load_data(c, "synthetic", None, 0) for c in (plain, sorted_))
    for split in ("train", "val", "test"):
        assert int(getattr(a, split).cardinality()) == int(getattr(b, split).cardinality())
        assert sum(len(y) for _, y in getattr(a, split)) == sum(len(y) for _, y in getattr(b, split))


def test_config_turns_on_xla_and_steps_per_execution():
    config = kzoo.get_config("neumf", ["train.jit_compile=true", "train.steps_per_execution=4",
                                       "model.num_users=5", "model.num_items=6"])
    model = compile_model(kzoo.build_from_config(config, compile=False), config, jit_compile=False)
    assert model.jit_compile is True and model.steps_per_execution == 4
    config = kzoo.get_config("neumf", ["model.num_users=5", "model.num_items=6", "train.jit_compile=false"])
    assert compile_model(kzoo.build_from_config(config, compile=False), config, jit_compile=False).jit_compile is False
