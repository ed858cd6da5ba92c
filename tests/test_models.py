"""The battery every zoo entry passes on its tiny config (parametrized over the registry)."""

from pathlib import Path

import numpy as np
import pytest
import keras

import kzoo
from kzoo.tasks import example_batch


def as_numpy(x):
    if isinstance(x, (list, tuple)):
        return [np.asarray(t) for t in x]
    return np.asarray(x)


ENTRIES = kzoo.list_models()


# Every shipped entry: {name: (task, family)}. An entry that stops registering drops out of the battery below.
SHIPPED = {
    "mlp": ("image_classification", "mlp"),
    "cnn": ("image_classification", "cnn"),
    "cnn_small": ("image_classification", "cnn"),
    "lstm": ("text_classification", "lstm"),
    "lstm_small": ("text_classification", "lstm"),
    "transformer_cls": ("text_classification", "transformer_cls"),
    "bert_cls": ("text_classification", "bert"),
    "bert_mlm": ("masked_lm", "bert"),
    "transformer_seq2seq": ("seq2seq", "transformer_seq2seq"),
    "gmf": ("recommendation", "ncf"),
    "ncf_mlp": ("recommendation", "ncf"),
    "neumf": ("recommendation", "ncf"),
    "sasrec": ("sequential_recommendation", "sasrec"),
}


def test_registry_holds_every_shipped_entry_and_each_zoo_config():
    # Entries that tests register for themselves (their builders live outside kzoo) are not shipped.
    shipped = [n for n in kzoo.list_models() if kzoo.get_entry(n).builder.__module__.startswith("kzoo.models.")]
    assert {n: (kzoo.get_entry(n).task, kzoo.get_entry(n).family) for n in shipped} == SHIPPED
    assert sorted(n for n in ENTRIES if n in SHIPPED) == sorted(SHIPPED)  # the battery runs on each of them
    configs = sorted(path.name for path in (Path(kzoo.__file__).resolve().parent.parent / "zoo_configs").glob("*.yaml"))
    assert configs == sorted(kzoo.get_entry(n).config_file for n in SHIPPED)
    assert kzoo.list_models("lstm*", include_aliases=True) == ["lstm", "lstm_sentiment", "lstm_small"]


@pytest.mark.smoke
@pytest.mark.parametrize("name", ENTRIES)
def test_forward_shape_and_dtype(name, tiny_config):
    config = tiny_config(name)
    model = kzoo.build_from_config(config)
    x, y = example_batch(config, batch_size=4)
    out = model(x, training=False)
    out = np.asarray(out)
    assert out.dtype == np.float32
    if config["task"] in ("image_classification", "text_classification"):
        assert out.shape == (4, config["model"]["num_classes"])
    elif config["task"] == "recommendation":
        assert out.shape in ((4,), (4, 1))
    elif config["task"] == "sequential_recommendation":
        assert out.shape == (4, config["model"]["max_length"], config["model"]["num_items"] + 1)
    elif config["task"] == "seq2seq":
        assert out.shape == (4, config["data"]["target_length"], config["model"]["target_vocab_size"])


@pytest.mark.parametrize("name", ENTRIES)
def test_learns_on_a_fixed_batch(name, tiny_config):
    config = tiny_config(name)
    keras.utils.set_random_seed(0)
    config = config.override({"train.learning_rate": 0.01})
    config = config.override({"train.schedule": "constant"})
    model = kzoo.build_from_config(config)
    x, y = example_batch(config, batch_size=16)
    # Training-mode losses: batch norm's moving statistics lag behind on so few steps.
    losses = model.fit(x, y, epochs=30, batch_size=16, verbose=0, shuffle=False).history["loss"]
    first, last = losses[0], min(losses[-3:])
    assert last < 0.7 * first, (first, last)


@pytest.mark.parametrize("name", ENTRIES)
def test_save_load_gives_identical_outputs(name, tmp_path, tiny_config):
    config = tiny_config(name)
    model = kzoo.build_from_config(config)
    x, _ = example_batch(config, batch_size=4, seed=1)
    expected = np.asarray(model(x, training=False))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(restored(x, training=False)), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ENTRIES)
def test_config_round_trip(name, tiny_config):
    config = tiny_config(name)
    model = kzoo.build_from_config(config, compile=False)
    clone = model.__class__.from_config(model.get_config())
    x, _ = example_batch(config, batch_size=2, seed=2)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        np.asarray(clone(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6
    )


def test_lstm_max_pooling_gives_finite_logits_for_an_all_padding_row(tiny_config):
    config = tiny_config("lstm")
    config = config.override({"model.pooling": "max"})
    model = kzoo.build_from_config(config, compile=False)
    x = np.zeros((2, config["data"]["sequence_length"]), "int32")
    x[1, :3] = [4, 5, 6]
    logits = np.asarray(model(x, training=False))
    assert np.all(np.abs(logits[0]) < 10), logits  # not pushed to +-1e9 by masked-out positions
