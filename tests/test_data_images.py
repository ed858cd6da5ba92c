"""Image data: user .npz files, their errors, synthetic images (deterministic and learnable)."""

import numpy as np
import pytest

import kzoo
from kzoo.data import DataError
from kzoo.tasks import load_data
from kzoo.data.synthetic import synthetic_images


@pytest.fixture
def config():
    return kzoo.get_config("mlp")


def _write_npz(path, n=30, n_test=10, shape=(28, 28), dtype=np.uint8, **replace):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n, *shape)).astype(dtype),
        "y_train": rng.integers(0, 10, size=n),
        "x_test": rng.integers(0, 256, size=(n_test, *shape)).astype(dtype),
        "y_test": rng.integers(0, 10, size=n_test),
    }
    arrays.update(replace)
    np.savez(path, **arrays)
    return path


def test_npz_without_channel_axis(config, tmp_path):
    path = _write_npz(tmp_path / "digits.npz")
    bundle = load_data(config, str(path), batch_size=8)
    assert bundle.source == "files" and bundle.name == str(path)
    assert bundle.sizes == {"train": 27, "val": 3, "test": 10}
    x, y = next(iter(bundle.train))
    assert tuple(x.shape) == (8, 28, 28, 1) and x.dtype.name == "uint8" and y.dtype.name == "int32"


@pytest.mark.smoke
def test_npz_folder_and_integer_pixels(config, tmp_path):
    _write_npz(tmp_path / "data.npz", shape=(28, 28, 1), dtype=np.int64)
    bundle = load_data(config, str(tmp_path), batch_size=8)
    assert next(iter(bundle.test))[0].dtype.name == "uint8"


@pytest.mark.parametrize(
    "replace, match",
    [
        ({"x_train": np.zeros((5, 32, 32), np.uint8)}, r"x_train has shape \[5, 32, 32\]"),
        ({"x_test": np.full((10, 28, 28), 0.5, np.float32)}, "x_test has dtype float32"),
        ({"y_train": np.arange(29)}, r"y_train has shape \[29\]"),
        ({"y_test": np.full(10, 10)}, r"y_test\[0\] = 10 is outside the classes 0..9"),
        ({"y_train": np.zeros(30, np.float32)}, "y_train has dtype float32"),
    ],
)
def test_npz_errors_name_file_and_array(config, tmp_path, replace, match):
    path = _write_npz(tmp_path / "bad.npz", **replace)
    with pytest.raises(DataError, match=match) as err:
        load_data(config, str(path))
    assert str(path) in str(err.value)


def test_npz_missing_arrays(config, tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"missing array\(s\) \['y_train', 'x_test', 'y_test'\]"):
        load_data(config, str(path))


def test_missing_path_and_wrong_file_type(config, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_data(config, str(tmp_path / "nowhere.npz"))
    (tmp_path / "images.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"images.csv: image data must be an .npz"):
        load_data(config, str(tmp_path / "images.csv"))


def test_synthetic_images_deterministic():
    a = synthetic_images(100, 20, seed=3)
    b = synthetic_images(100, 20, seed=3)
    c = synthetic_images(100, 20, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == np.uint8 and a[0].shape == (100, 28, 28, 1)


def test_synthetic_images_learnable():
    x, y, xt, yt = synthetic_images(2000, 500, seed=0)
    centroids = np.stack([x[y == k].reshape(-1, 784).mean(0) for k in range(10)])
    predicted = ((xt.reshape(-1, 1, 784) - centroids[None]) ** 2).sum(-1).argmin(1)
    assert (predicted == yt).mean() > 0.6  # chance is 0.1


def test_synthetic_bundle_same_seed_same_batches(config):
    config = config.override({"data.synthetic_size": 200})
    first = [load_data(config, "synthetic", seed=1, batch_size=16) for _ in range(2)]
    (x1, y1), (x2, y2) = (next(iter(b.train)) for b in first)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert first[0].sizes == {"train": 180, "val": 20, "test": 50}
