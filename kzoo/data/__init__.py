"""Data for every zoo task: tfds datasets, the user's own files and seeded synthetic sets.

One loader module per kind of data (`images`, `text`, `seq2seq`, `recommender`), each returning a
`DataBundle`; the entry's Task picks its loader (`kzoo.tasks.load_data(config, source, ...)`).
Sources: "auto" (the real tfds data when prepared or downloadable, else generated data, said
out loud), "tfds", "synthetic", or a filesystem path to the user's own files (format detected).
"""

from __future__ import annotations

from kzoo.data.bundle import DataBundle
from kzoo.data.tfds_source import (
    is_prepared,
    load_tfds,
    network_reachable,
    resolve_data_dir,
)
from kzoo.errors import DataError, DataUnavailableError

__all__ = [
    "DataBundle",
    "DataError",
    "DataUnavailableError",
    "is_prepared",
    "load_tfds",
    "network_reachable",
    "resolve_data_dir",
]
