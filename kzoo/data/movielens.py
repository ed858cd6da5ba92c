"""Read MovieLens-style rating tables into NumPy: tfds `movielens/*-ratings` and the raw files.

Raw files (format detected from the first line, ISO-8859-1 text):
- `u.data` (ML-100k): tab-separated `user item rating timestamp`, no header.
- `ratings.dat` (ML-1M/10M): `user::item::rating::timestamp`, no header.
- `ratings.csv` (ML-latest, ML-20M/25M): `userId,movieId,rating,timestamp` with a header line.
A folder is searched for one of those three names, in that order. User and item ids must be
integers (they are the raw ids the id maps translate); blank lines are skipped.

Item titles, where the data has them: `u.item` beside `u.data` (`id|title|...`), `movies.dat`
beside `ratings.dat` (`id::title::genres`), `movies.csv` beside `ratings.csv`, or the tfds
`movie_title` feature; `Ratings.titles` maps raw item id -> title (None when there are none).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo.data.tfds_source import load_tfds
from kzoo.errors import DataError

RATING_FILES = ("u.data", "ratings.dat", "ratings.csv")
TITLE_FILES = {"u.data": "u.item", "ratings.dat": "movies.dat", "ratings.csv": "movies.csv"}

_HEADER_NAMES = {
    "user": ("userid", "user_id", "user"),
    "item": ("movieid", "movie_id", "itemid", "item_id", "item"),
    "rating": ("rating", "user_rating"),
    "timestamp": ("timestamp", "time", "ts"),
}


@dataclasses.dataclass
class Ratings:
    """One rating table: raw integer ids, ratings and Unix timestamps, one entry per row."""

    users: np.ndarray  # int64
    items: np.ndarray  # int64
    ratings: np.ndarray  # float32
    timestamps: np.ndarray  # int64
    name: str
    titles: dict | None = None  # raw item id -> title, where the data has them

    def __len__(self) -> int:
        return int(self.users.shape[0])


def find_ratings_file(path) -> Path:
    """Return the ratings file `path` names, or the first of `RATING_FILES` inside a folder."""
    path = Path(os.path.abspath(Path(path).expanduser()))  # absolute: the name a run records
    if path.is_dir():
        for name in RATING_FILES:
            if (path / name).is_file():
                return path / name
        raise DataError(f"no ratings file in folder {str(path)!r}; looked for {', '.join(RATING_FILES)}")
    if not path.exists():
        raise DataError(f"ratings file {str(path)!r} does not exist")
    return path


def read_ratings_file(path) -> Ratings:
    """Parse a `u.data`, `ratings.dat` or `ratings.csv` file (or a folder holding one).

    Raises DataError naming the file (and the line number) for a missing or empty file, a line
    with the wrong number of fields, or an id, rating or timestamp that is not a number.
    """
    path = find_ratings_file(path)
    text = path.read_bytes().decode("latin-1")
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        raise DataError(f"{path}: the ratings file is empty")
    first = numbered[0][1]
    sep = "::" if "::" in first else "\t" if "\t" in first else "," if "," in first else None
    if sep is None:
        raise DataError(
            f"{path}:{numbered[0][0]}: cannot tell the format; expected tab-separated (u.data), "
            f"'::'-separated (ratings.dat) or comma-separated (ratings.csv) fields"
        )
    columns = {"user": 0, "item": 1, "rating": 2, "timestamp": 3}
    head = [field.strip() for field in first.split(sep)]
    if not _is_int(head[0]):  # a header line
        columns = _header_columns(path, numbered[0][0], head)
        numbered = numbered[1:]
        if not numbered:
            raise DataError(f"{path}: the ratings file has a header but no ratings")
    width = len(head)
    if width < 4:
        raise DataError(
            f"{path}:{numbered[0][0]}: expected 4 fields (user, item, rating, timestamp), got {width}"
        )
    fields = [line.split(sep) for _, line in numbered]
    lengths = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        n = numbered[bad[0]][0]
        raise DataError(f"{path}:{n}: malformed line, expected {width} fields separated by {sep!r}, got {lengths[bad[0]]}")
    return Ratings(
        users=_column(path, numbered, fields, columns["user"], np.int64, "user id"),
        items=_column(path, numbered, fields, columns["item"], np.int64, "item id"),
        ratings=_column(path, numbered, fields, columns["rating"], np.float32, "rating"),
        timestamps=_column(path, numbered, fields, columns["timestamp"], np.int64, "timestamp"),
        name=str(path),
        titles=read_item_titles(path),
    )


def read_item_titles(ratings_path) -> dict | None:
    """Return {raw item id: title} from the titles file beside a ratings file (`TITLE_FILES`), or None.

    A file that is absent or unreadable gives None: titles are a display nicety, never required.
    Lines whose id is not an integer (a header) are skipped.
    """
    ratings_path = Path(ratings_path)
    name = TITLE_FILES.get(ratings_path.name)
    path = ratings_path.with_name(name) if name else None
    if path is None or not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")  # movies.csv (ML-latest) is UTF-8; u.item and movies.dat are Latin-1
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if name == "movies.csv":
        rows = csv.reader(io.StringIO(text))
    else:
        sep = "|" if name == "u.item" else "::"
        rows = (line.split(sep) for line in text.splitlines())
    titles = {int(row[0]): row[1].strip() for row in rows if len(row) > 1 and _is_int(row[0].strip())}
    return titles or None


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def _header_columns(path, line_number: int, head: list[str]) -> dict:
    lowered = [h.lower() for h in head]
    columns = {}
    for column, names in _HEADER_NAMES.items():
        found = [i for i, h in enumerate(lowered) if h in names]
        if not found:
            raise DataError(
                f"{path}:{line_number}: header {head} has no {column} column (expected one of {list(names)})"
            )
        columns[column] = found[0]
    return columns


def _column(path, numbered, fields, index: int, dtype, what: str) -> np.ndarray:
    values = [f[index].strip() for f in fields]
    try:
        return np.asarray(values).astype(dtype)
    except ValueError:
        pass
    convert = int if np.issubdtype(dtype, np.integer) else float
    for (n, _), value in zip(numbered, values):
        try:
            convert(value)
        except ValueError:
            kind = "an integer" if convert is int else "a number"
            raise DataError(f"{path}:{n}: {what} {value!r} is not {kind}") from None
    raise DataError(f"{path}: could not read the {what} column")  # pragma: no cover


def read_tfds_ratings(name: str, data_dir=None, download="auto") -> Ratings:
    """Read the whole `train` split of a tfds `movielens/*-ratings` dataset into NumPy, in batches."""
    ds = load_tfds(name, "train", data_dir=data_dir, download=download)
    needed = ("user_id", "movie_id", "user_rating", "timestamp")
    titled = "movie_title" in ds.element_spec
    missing = [key for key in needed if key not in ds.element_spec]
    if missing:
        raise DataError(f"tfds dataset {name!r} has no {missing} feature(s); expected a movielens/*-ratings dataset")
    keys = needed + (("movie_title",) if titled else ())
    ds = ds.map(lambda e: tuple(e[key] for key in keys), num_parallel_calls=tf.data.AUTOTUNE)
    parts = [tuple(t.numpy() for t in batch) for batch in ds.batch(65536).prefetch(2)]
    if not parts:
        raise DataError(f"tfds dataset {name!r} has no ratings")
    users, items, ratings, timestamps, *title_column = (np.concatenate(column) for column in zip(*parts))
    items = _ids_from_strings(items, name, "movie_id")
    titles = None
    if title_column:
        first = np.unique(items, return_index=True)[1]
        titles = {int(items[i]): title_column[0][i].decode("utf-8", errors="replace") for i in first}
    return Ratings(
        users=_ids_from_strings(users, name, "user_id"),
        items=items,
        ratings=ratings.astype(np.float32),
        timestamps=timestamps.astype(np.int64),
        name=name,
        titles=titles,
    )


def _ids_from_strings(values: np.ndarray, name: str, feature: str) -> np.ndarray:
    try:
        return values.astype(np.bytes_).astype(np.int64)
    except ValueError:
        bad = next(v for v in values if not _is_int(v.decode("latin-1")))
        raise DataError(f"tfds dataset {name!r}: {feature} {bad!r} is not an integer") from None
