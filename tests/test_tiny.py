"""`--tiny` reads a slice of whatever real source it is given: `data.max_examples` examples of each split."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

import kzoo
from kzoo.data import tfds_source
from kzoo.data.pipeline import first_users
from kzoo.data.recommender import load_recommender_data
from kzoo.data.schemas import TINY_MAX_EXAMPLES
from kzoo.tasks import load_data
from kzoo.training.summary import format_summary


@pytest.fixture
def mocked_tfds(monkeypatch):
    monkeypatch.setattr(tfds_source, "is_prepared", lambda *a, **k: True)
    with tfds.testing.mock_data(num_examples=40):
        yield


@pytest.mark.smoke
def test_tiny_caps_every_entrys_data_and_a_normal_run_reads_everything():
    for name in kzoo.list_models():
        assert kzoo.get_config(name, tiny=True)["data"]["max_examples"] == TINY_MAX_EXAMPLES, name
        assert kzoo.get_config(name)["data"]["max_examples"] == 0, name


def test_tiny_text_run_on_tfds_learns_its_vocabulary_and_tests_on_the_slice(mocked_tfds):
    config = kzoo.get_config("lstm", {"data.max_examples": 10, "data.length_sorted_chunks": 0}, tiny=True)
    bundle = load_data(config, "tfds", batch_size=4)
    assert bundle.sizes == {"train": 9, "val": 1, "test": 10}
    assert sum(len(y) for _, y in bundle.test) == 10 and sum(len(y) for _, y in bundle.train) == 9
    assert any("learned from the 9 training examples" in note for note in bundle.notes)
    assert any("at most the first 10 examples of each split" in note for note in bundle.notes)


def test_tiny_image_run_on_tfds_reads_a_slice(mocked_tfds):
    config = kzoo.get_config("mlp", {"data.max_examples": 12}, tiny=True)
    bundle = load_data(config, "tfds", batch_size=4)
    assert bundle.sizes["train"] + bundle.sizes["val"] == 12 and bundle.sizes["test"] == 12


def test_synthetic_data_is_sized_by_synthetic_size_not_the_cap():
    config = kzoo.get_config("mlp", {"data.max_examples": 12, "data.synthetic_size": 100}, tiny=True)
    bundle = load_data(config, "synthetic", batch_size=4)
    assert bundle.sizes["train"] + bundle.sizes["val"] == 100
    assert not any("at most the first" in note for note in bundle.notes)


def test_tiny_translation_files_keep_the_first_pairs_of_each_split(tmp_path):
    (tmp_path / "pairs.tsv").write_text("".join(f"quelle {i}\tziel {i}\n" for i in range(60)), encoding="utf-8")
    config = kzoo.get_config("transformer_seq2seq", {"data.max_examples": 5}, tiny=True)
    bundle = load_data(config, str(tmp_path / "pairs.tsv"), batch_size=4)
    assert bundle.sizes == {"train": 5, "val": 5, "test": 5}


def test_a_recommender_slice_keeps_whole_users(tmp_path):
    users = np.array([7, 7, 3, 7, 3, 9, 9, 9, 1])
    assert first_users(users, 5).tolist() == [True, True, True, True, True, False, False, False, False]
    assert first_users(users, None).all() and first_users(users, 2).tolist() == [True, True, False, True] + [False] * 5
    rows = [f"{u}\t{i}\t4\t{1000 + i}" for u in range(1, 21) for i in range(1, 11)]  # 20 users x 10 ratings
    (tmp_path / "u.data").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = kzoo.get_config("gmf", {"data.max_examples": 35}, tiny=True)
    bundle = load_recommender_data(config, str(tmp_path / "u.data"), batch_size=16)
    assert bundle.preprocessor.num_users == 3  # 3 whole users (30 ratings) fit in 35


def test_the_summary_says_a_tiny_run_read_a_slice():
    metrics = {"run_dir": "runs/x", "data": {"source": "tfds", "name": "imdb_reviews",
                                             "sizes": {"train": 900, "val": 100, "test": 1000}},
               "epochs_run": 1, "epochs_requested": 1, "train_seconds": 3.0, "test": {"accuracy": 0.5}}
    config = {"entry": "lstm", "data": {"max_examples": 1000}, "reference": {"metric": "accuracy", "value": 0.84}}
    text = format_summary(metrics, config)
    assert "imdb_reviews (tfds, a slice: the first 1000 examples of each split): train 900" in text
    assert "not comparable (a slice of the data)" in text and "NOT met" not in text
