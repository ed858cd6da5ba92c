"""Image-classification data: uint8 images `[B, H, W, C]` (the model rescales) and int32 labels.

Sources: tfds `mnist` / `fashion_mnist` (`data.dataset`), a user `.npz` file, or synthetic strokes.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from kzoo.data import files, pipeline, synthetic
from kzoo.data.bundle import DataBundle
from kzoo.data.tfds_source import dataset_size, load_tfds
from kzoo.errors import DataError


def load_image_data(config: dict, source: str, data_dir: str | None, seed: int,
                    batch_size: int, shard: tuple[int, int] | None) -> DataBundle:
    """Return a DataBundle of `(uint8 images, int32 labels)` batches for an image_classification config.

    `source`: "auto", "tfds", "synthetic" or the path of an `.npz` with x_train/y_train/x_test/y_test.
    The validation split is `data.val_fraction` of the training data, chosen with `seed`.
    """
    data, model = config.data, config.model
    shape, num_classes = tuple(model.image_shape), model.num_classes
    name = data.dataset
    kind, notes = pipeline.choose_source(source, name, data_dir, config.task)
    if kind == "tfds":
        train, test = load_tfds(name, ["train", "test"], data_dir, as_supervised=True)
        train = train.cache()  # decoded once, shared by the train and val carve-outs
        found = tuple(train.element_spec[0].shape)
        if found != shape:
            raise DataError(f"tfds {name!r} images have shape {list(found)} but the model expects {list(shape)}")
        n_train, n_test = dataset_size(train, name, "train", data_dir), dataset_size(test, name, "test", data_dir)
    else:
        if kind == "files":
            arrays = files.read_npz_images(_npz_path(source), shape, num_classes)
            name = files.absolute(source)
        else:
            n = pipeline.synthetic_size(data)
            x, y, xt, yt = synthetic.synthetic_images(n, max(n // 4, 10), num_classes, seed, shape)
            arrays, name = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}, "synthetic/image_classification"
        train = tf.data.Dataset.from_tensor_slices((arrays["x_train"], arrays["y_train"]))
        test = tf.data.Dataset.from_tensor_slices((arrays["x_test"], arrays["y_test"]))
        n_train, n_test = len(arrays["y_train"]), len(arrays["y_test"])
    (train, n_train), (test, n_test) = pipeline.first_examples(data, kind, (train, n_train), (test, n_test))

    decode = lambda x, y: (tf.cast(x, tf.uint8), tf.cast(y, tf.int32))
    train, test = (ds.map(decode, num_parallel_calls=pipeline.AUTOTUNE) for ds in (train, test))
    train, val, n_fit, n_val = pipeline.carve_validation(train, n_train, data.val_fraction, seed)
    buffer = min(data.shuffle_buffer or n_fit, n_fit)  # null = the whole split
    return DataBundle(
        train=pipeline.finish(train, batch_size, n_fit, training=True, seed=seed, shard=shard, shuffle_buffer=buffer),
        val=pipeline.finish(val, batch_size, n_val) if val is not None else None,
        test=pipeline.finish(test, batch_size, n_test),
        source=kind,
        name=name,
        sizes={"train": pipeline.shard_size(n_fit, shard), "val": n_val, "test": n_test,
               **({"train_all_workers": n_fit} if shard else {})},
        notes=notes,
        raw_train=pipeline.raw_inputs(train, n_fit, "image"),
    )


def _npz_path(source: str) -> Path:
    """Return the `.npz` named by `source`, or the only one in a folder; DataError otherwise."""
    path = files.require_path(source)
    if path.is_dir():
        found = sorted(path.glob("*.npz"))
        if len(found) != 1:
            raise DataError(f"{path}: expected exactly one .npz file with x_train/y_train/x_test/y_test, found {len(found)}")
        path = found[0]
    if path.suffix != ".npz":
        raise DataError(f"{path}: image data must be an .npz file with x_train, y_train, x_test, y_test")
    return path
