"""`bert_cls` beyond the registry battery: one input, padding mask, loading a local preset."""

import numpy as np
import pytest
import keras
import keras_hub

import kzoo

TINY = dict(vocab_size=50, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
            max_sequence_length=24)


def ids(seed=0, batch=3, length=10, keep=7):
    x = np.random.default_rng(seed).integers(1, 50, size=(batch, length)).astype("int32")
    x[:, keep:] = 0
    return x


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_single_input_and_padding_mask_honoured(pooling):
    model = kzoo.build("bert_cls", compile=False, pooling=pooling, **TINY)
    assert [t.name for t in model.inputs] == ["token_ids"]
    x = ids()
    longer = np.concatenate([x, np.zeros((3, 5), "int32")], axis=1)
    np.testing.assert_allclose(model(longer), model(x), atol=1e-5)


def test_unknown_pooling_is_rejected():
    with pytest.raises(ValueError, match="pooling"):
        kzoo.build("bert_cls", compile=False, pooling="max", **TINY)


def test_builds_from_a_local_preset_directory(tmp_path):
    keras.utils.set_random_seed(1)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=40, num_layers=1, num_heads=2, hidden_dim=12, intermediate_dim=24,
        max_sequence_length=32,
    )
    backbone.save_to_preset(str(tmp_path))
    # Architecture keys in the config are ignored: the preset's own config wins.
    model = kzoo.build("bert_cls", preset=str(tmp_path), **TINY)
    loaded = model.get_layer("backbone")
    assert (loaded.vocabulary_size, loaded.hidden_dim, loaded.num_layers) == (40, 12, 1)
    assert len(loaded.weights) == len(backbone.weights)
    for got, want in zip(loaded.get_weights(), backbone.get_weights()):
        np.testing.assert_array_equal(got, want)
    x = ids(seed=2) % 40
    features = backbone({"token_ids": x, "segment_ids": np.zeros_like(x), "padding_mask": x != 0})
    mask = (x != 0)[..., None]
    pooled = (np.asarray(features["sequence_output"]) * mask).sum(1) / mask.sum(1)
    head = model.get_layer("logits")
    np.testing.assert_allclose(model(x), head(pooled), atol=1e-5)
    # It still fine-tunes and saves like any other entry.
    model.fit(x, np.array([0, 1, 0]), epochs=1, verbose=0)
    path = tmp_path / "bert_cls.keras"
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(x), model(x), atol=1e-6)
