"""The real offline copies in ../shared/datasets (slow: run with `-m slow`)."""

import pytest

import kzoo
from kzoo.data import load_tfds
from kzoo.tasks import load_data
from kzoo.data.tfds_source import dataset_size, is_prepared

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, sizes", [("mnist", (60000, 10000)), ("imdb_reviews", (25000, 25000))])
def test_tfds_split_sizes(shared_datasets, name, sizes):
    data_dir = str(shared_datasets / "tfds")
    assert is_prepared(name, data_dir)
    train, test = load_tfds(name, ["train", "test"], data_dir, download=False)
    assert (dataset_size(train, name, "train", data_dir), dataset_size(test, name, "test", data_dir)) == sizes


def test_mnist_bundle(shared_datasets):
    bundle = load_data(kzoo.get_config("mlp"), "auto", str(shared_datasets / "tfds"), batch_size=256)
    assert bundle.source == "tfds" and bundle.sizes == {"train": 54000, "val": 6000, "test": 10000}
    x, y = next(iter(bundle.test))
    assert x.dtype.name == "uint8" and tuple(x.shape) == (256, 28, 28, 1)


def test_imdb_bundle(shared_datasets):
    config = kzoo.get_config("lstm")
    bundle = load_data(config, "tfds", str(shared_datasets / "tfds"))
    assert bundle.sizes == {"train": 22500, "val": 2500, "test": 25000}
    assert bundle.preprocessor.vocabulary_size == config["model"]["vocab_size"]
    x, _ = next(iter(bundle.val))  # length-sorted batches: padding trimmed to a multiple of 64 tokens
    assert x.shape[0] == 64 and 0 < x.shape[1] <= config["data"]["sequence_length"] and x.shape[1] % 64 == 0


def test_multi30k_raw_folder(shared_datasets):
    config = kzoo.get_config("transformer_seq2seq")
    bundle = load_data(config, str(shared_datasets / "raw" / "multi30k"))
    assert bundle.sizes == {"train": 29000, "val": 1014, "test": 1000}
    # "auto" finds the raw folder beside the tfds directory
    assert load_data(config, "auto", str(shared_datasets / "tfds")).source == "files"
