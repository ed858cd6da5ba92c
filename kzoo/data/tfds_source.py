"""TensorFlow Datasets access that fails fast offline.

`load_tfds` reads a tfds-prepared copy when one exists under the data directory, downloads only
when allowed and the network answers within seconds, and otherwise raises `DataUnavailableError`
with the ways out (tfds 4.9.10 alone would retry for minutes before failing).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from kzoo.errors import DataError, DataUnavailableError
from kzoo.network import network_reachable


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    """Return the tfds data directory: `data_dir`, else `$TFDS_DATA_DIR`, else `~/tensorflow_datasets`."""
    if data_dir:
        return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    if os.environ.get("TFDS_DATA_DIR"):
        return os.path.abspath(os.path.expanduser(os.environ["TFDS_DATA_DIR"]))
    return os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def _builder(name: str, data_dir: str):
    import tensorflow_datasets as tfds  # seconds to import: only when a tfds dataset is asked for

    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as err:  # DatasetNotFoundError, bad config name, ...
        raise DataError(f"unknown tfds dataset {name!r}: {str(err).splitlines()[0]}") from None


def is_prepared(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Return True when a tfds-prepared copy of `name` (e.g. "imdb_reviews/plain_text") is in `data_dir`.

    Looks only at the local version folder (`<data_dir>/<name>/<config>/<version>/dataset_info.json`);
    never touches the network.
    """
    builder = _builder(name, resolve_data_dir(data_dir))
    return Path(builder.data_dir, "dataset_info.json").is_file()


def split_sizes(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """Return {split: number of examples} of a prepared (or downloaded) tfds dataset."""
    splits = _builder(name, resolve_data_dir(data_dir)).info.splits
    return {split: int(info.num_examples) for split, info in splits.items()}


def dataset_size(ds: tf.data.Dataset, name: str, split: str, data_dir: str | os.PathLike | None = None) -> int:
    """Return the number of examples of a loaded split: its cardinality, the tfds info, or a count."""
    n = int(ds.cardinality().numpy())
    if n >= 0:
        return n
    n = split_sizes(name, data_dir).get(split)
    if n is not None:
        return n
    return int(ds.reduce(0, lambda count, _: count + 1).numpy())


def label_names(name: str, data_dir: str | os.PathLike | None = None, key: str = "label") -> list[str]:
    """Return the class names of a tfds ClassLabel feature (e.g. ["neg", "pos"] for imdb_reviews)."""
    return list(_builder(name, resolve_data_dir(data_dir)).info.features[key].names)


def unavailable_message(name: str, data_dir: str, reason: str) -> str:
    """Return the one-line explanation used by `DataUnavailableError` for dataset `name`."""
    return (
        f"dataset {name!r} is not prepared in {data_dir} and {reason}. Ways out: point to a prepared "
        f"copy with --data-dir DIR or TFDS_DATA_DIR, connect to a network so tfds can download it, "
        f"train on generated data with --data synthetic, or pass your own files with --data PATH."
    )


_SPLIT_BASE = re.compile(r"^\s*([A-Za-z0-9_]+)")


def check_splits(name: str, requested: Sequence[str], valid: Sequence[str]) -> None:
    """Raise DataError when a split (slicing such as "train[:90%]" allowed) is not in `valid`."""
    if not valid:  # split metadata unknown (e.g. under tfds.testing.mock_data): let tfds decide
        return
    for split in requested:
        for part in str(split).split("+"):
            match = _SPLIT_BASE.match(part)
            base = match.group(1) if match else part
            if base not in valid:
                raise DataError(
                    f"dataset {name!r} has no split {split!r}; valid splits: {', '.join(sorted(valid))}"
                )


def load_tfds(
    name: str,
    split: str | Sequence[str],
    data_dir: str | os.PathLike | None = None,
    download: str | bool = "auto",
    as_supervised: bool = False,
) -> tf.data.Dataset | list[tf.data.Dataset]:
    """Return `tfds.load(name, split=split, ...)`: one dataset, or a list when `split` is a list.

    `download`: "auto" or True downloads when the copy is missing and the network answers;
    False or "never" only reads a prepared copy. Raises DataUnavailableError (within seconds)
    when the copy is missing and cannot be downloaded, DataError for an unknown dataset or split.
    """
    import tensorflow_datasets as tfds  # seconds to import: only when a tfds dataset is asked for

    data_dir = resolve_data_dir(data_dir)
    splits = [split] if isinstance(split, str) else list(split)
    if is_prepared(name, data_dir):
        check_splits(name, splits, list(_builder(name, data_dir).info.splits.keys()))
        download_now = False
    elif download in (False, "never", "no"):
        raise DataUnavailableError(unavailable_message(name, data_dir, "downloading is disabled"))
    elif not network_reachable():
        raise DataUnavailableError(unavailable_message(name, data_dir, "the network is not reachable"))
    else:
        download_now = True
    return tfds.load(
        name,
        split=split,
        data_dir=data_dir,
        download=download_now,
        as_supervised=as_supervised,
        shuffle_files=False,
    )
