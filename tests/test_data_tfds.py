"""tfds access: data-dir resolution, fail-fast offline errors, auto fallback, mocked tfds loads."""

import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

import kzoo
from kzoo.data import DataError, DataUnavailableError, tfds_source
from kzoo.tasks import load_data


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)


@pytest.fixture
def mocked_tfds(monkeypatch):
    """tfds.testing.mock_data, with the local-copy check answering 'prepared'."""
    monkeypatch.setattr(tfds_source, "is_prepared", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=40):
        yield


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert tfds_source.resolve_data_dir(str(tmp_path / "flag")) == str(tmp_path / "flag")
    assert tfds_source.resolve_data_dir() == str(tmp_path / "env")
    monkeypatch.delenv("TFDS_DATA_DIR")
    assert tfds_source.resolve_data_dir().endswith("tensorflow_datasets")


def test_is_prepared_false_for_empty_dir(tmp_path):
    assert not tfds_source.is_prepared("mnist", str(tmp_path))


def test_unknown_dataset_name_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no_such_dataset"):
        tfds_source.is_prepared("no_such_dataset", str(tmp_path))


def test_load_tfds_fails_fast_offline(offline, tmp_path):
    started = time.perf_counter()
    with pytest.raises(DataUnavailableError) as err:
        tfds_source.load_tfds("mnist", "train", data_dir=str(tmp_path))
    assert time.perf_counter() - started < 3
    message = str(err.value)
    assert "mnist" in message and str(tmp_path) in message
    assert "--data synthetic" in message and "--data-dir" in message and "\n" not in message
    assert isinstance(err.value, FileNotFoundError)


def test_download_disabled_raises(tmp_path):
    with pytest.raises(DataUnavailableError, match="downloading is disabled"):
        tfds_source.load_tfds("mnist", "train", data_dir=str(tmp_path), download=False)


def test_network_reachable_answers_quickly():
    started = time.perf_counter()
    assert tfds_source.network_reachable("127.0.0.1", port=9, timeout=1.0) is False
    assert time.perf_counter() - started < 2


def test_check_splits_lists_valid_names():
    tfds_source.check_splits("mnist", ["train[:90%]", "test"], ["train", "test"])
    with pytest.raises(DataError, match="valid splits: test, train"):
        tfds_source.check_splits("mnist", ["validation"], ["train", "test"])


def test_auto_falls_back_to_synthetic(offline, tmp_path, capsys):
    config = kzoo.get_config("mlp")
    config = config.override({"data.synthetic_size": 200})
    bundle = load_data(config, "auto", data_dir=str(tmp_path), batch_size=32)
    assert bundle.source == "synthetic"
    assert "synthetic" in capsys.readouterr().out
    assert any("mnist" in note and "synthetic" in note for note in bundle.notes)


def test_explicit_tfds_offline_raises(offline, tmp_path):
    with pytest.raises(DataUnavailableError, match="imdb_reviews"):
        load_data(kzoo.get_config("lstm"), "tfds", data_dir=str(tmp_path))


def test_mocked_mnist_pipeline(mocked_tfds, tmp_path):
    config = kzoo.get_config("mlp")
    bundle = load_data(config, "tfds", data_dir=str(tmp_path), batch_size=8)
    assert bundle.source == "tfds" and bundle.name == "mnist"
    assert bundle.sizes == {"train": 36, "val": 4, "test": 40}
    x, y = next(iter(bundle.train))
    assert x.dtype.name == "uint8" and tuple(x.shape) == (8, 28, 28, 1)
    assert y.dtype.name == "int32"
    assert sum(len(y) for _, y in bundle.val) == 4
    assert len(bundle.train) == 5  # cardinality known: ceil(36 / 8)


@pytest.mark.smoke
def test_mocked_imdb_pipeline(mocked_tfds, tmp_path):
    config = kzoo.get_config("lstm", {"data.sequence_length": 16, "model.vocab_size": 50})
    bundle = load_data(config, "tfds", data_dir=str(tmp_path), batch_size=8)
    x, y = next(iter(bundle.test))
    assert x.dtype.name == "int32" and tuple(x.shape) == (8, 16)
    assert np.all((y.numpy() >= 0) & (y.numpy() < 2))
    assert bundle.preprocessor.class_names == ["neg", "pos"]
    assert bundle.preprocessor.vocabulary_size <= 50


def test_shard_splits_training_data(tmp_path):
    config = kzoo.get_config("mlp")
    config = config.override({"data.synthetic_size": 100})
    parts = [load_data(config, "synthetic", batch_size=100, shard=(2, i)) for i in range(2)]
    assert [p.sizes["train"] for p in parts] == [45, 45]
    images = [np.concatenate([x.numpy() for x, _ in p.train]) for p in parts]
    assert len(images[0]) == 45 and not any(np.array_equal(a, b) for a in images[0][:5] for b in images[1])
    with pytest.raises(DataError, match="shard"):
        load_data(config, "synthetic", shard=(2, 2))


def test_unknown_task():
    with pytest.raises(ValueError, match="no data loader"):
        load_data({"task": "nope", "train": {"batch_size": 1}})
