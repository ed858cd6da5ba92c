"""Raw user / item ids <-> contiguous model indices, and the `user_ids.txt` / `item_ids.txt` files.

Indices run 1..num_users and 1..num_items in increasing raw-id order; 0 is the out-of-vocabulary
index of ids not seen in the data. `read_ids(path)` is the one reader of an id map file.
The maps also carry what serving needs beside them: each user's seen items (`SeenItems`) and
the item titles, where the data has them (`item_titles.tsv`: raw id, tab, title).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo.data.recommender.seen import SeenItems
from kzoo.errors import DataError

_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


class IdMaps:
    """Raw user / item ids <-> contiguous indices (1..N, 0 = out of vocabulary).

    `user_ids[k]` is the raw id of user index k + 1 (same for items). `save(directory)` writes
    `user_ids.txt` and `item_ids.txt`, one raw id a line in index order; `IdMaps.load` reads them.
    `seen` (a `SeenItems`, or None) holds each user's interactions, which `recommend` leaves out;
    `item_titles` ({raw item id: title}, or None) the titles `tools/predict.py` shows.
    """

    USER_FILE = "user_ids.txt"
    ITEM_FILE = "item_ids.txt"
    TITLE_FILE = "item_titles.tsv"

    def __init__(self, user_ids, item_ids, seen: SeenItems | None = None, item_titles: dict | None = None):
        self.user_ids = _as_int_ids(user_ids, "user ids")
        self.item_ids = _as_int_ids(item_ids, "item ids")
        self.seen, self.item_titles = seen, item_titles
        for what, ids in (("user", self.user_ids), ("item", self.item_ids)):
            if np.unique(ids).size != ids.size:
                raise DataError(f"IdMaps: duplicate raw {what} ids")
        self._user_order = np.argsort(self.user_ids, kind="stable")
        self._item_order = np.argsort(self.item_ids, kind="stable")

    @classmethod
    def from_raw(cls, users, items) -> "IdMaps":
        """Build maps numbering the distinct raw ids in increasing order."""
        return cls(np.unique(np.asarray(users, np.int64)), np.unique(np.asarray(items, np.int64)))

    @property
    def num_users(self) -> int:
        return int(self.user_ids.size)

    @property
    def num_items(self) -> int:
        return int(self.item_ids.size)

    def map_users(self, raw) -> np.ndarray:
        """Return int32 indices of raw user ids (ints or digit strings); unknown ids give 0."""
        return _lookup(self.user_ids, self._user_order, raw, "user id")

    def map_items(self, raw) -> np.ndarray:
        """Return int32 indices of raw item ids (ints or digit strings); unknown ids give 0."""
        return _lookup(self.item_ids, self._item_order, raw, "item id")

    def raw_items(self, indices) -> np.ndarray:
        """Return the raw item ids of indices 1..num_items (index 0 gives -1)."""
        indices = np.asarray(indices, np.int64)
        return np.where(indices > 0, self.item_ids[np.clip(indices - 1, 0, None)], -1)

    def model_overrides(self) -> dict:
        """Model config values only the data knows: the user and item counts."""
        return {"num_users": self.num_users, "num_items": self.num_items}

    def save(self, directory) -> None:
        """Write `user_ids.txt` and `item_ids.txt` into `directory` (created if missing), one raw id a
        line in index order; returns nothing."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, ids in ((self.USER_FILE, self.user_ids), (self.ITEM_FILE, self.item_ids)):
            (directory / name).write_text("".join(f"{i}\n" for i in ids.tolist()), encoding="utf-8")
        if self.seen is not None:
            self.seen.save(directory)
        if self.item_titles:
            self.write_titles(directory / self.TITLE_FILE)

    def write_titles(self, path) -> None:
        """Write `raw id<TAB>title` lines, in index order, for the items that have a title."""
        clean = lambda t: " ".join(str(t).split())  # noqa: E731  (no tab or newline inside a title)
        lines = (f"{i}\t{clean(self.item_titles[i])}\n" for i in self.item_ids.tolist() if i in self.item_titles)
        Path(path).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "IdMaps":
        """Return the `IdMaps` saved by `save(directory)`; a missing, empty or malformed file raises
        DataError naming it (see `read_ids`)."""
        directory = Path(directory)
        users = read_ids(directory / cls.USER_FILE)
        return cls(users, read_ids(directory / cls.ITEM_FILE), seen=SeenItems.load(directory, users.size),
                   item_titles=read_titles(directory / cls.TITLE_FILE))

    def __repr__(self) -> str:
        return f"IdMaps(num_users={self.num_users}, num_items={self.num_items})"


def read_ids(path) -> np.ndarray:
    """Return the int64 raw ids of an id map file (`user_ids.txt` / `item_ids.txt`), in file order.

    One raw id a line; blank lines are skipped. Raises DataError naming the file when it does not
    exist, is not UTF-8 text, holds no id, holds a line that is not an int64 integer (with its line
    number) or holds an id twice.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"id map file {str(path)!r} {problem}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"id map file {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    ids = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not _is_int(line.strip()):
            raise DataError(f"{path}:{n}: id {line.strip()!r} is not an integer")
        value = int(line)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise DataError(f"{path}:{n}: id {line.strip()!r} does not fit in int64")
        ids.append(value)
    if not ids:
        raise DataError(f"id map file {str(path)!r} is empty")
    ids = np.asarray(ids, np.int64)
    unique, counts = np.unique(ids, return_counts=True)
    if unique.size != ids.size:
        raise DataError(f"id map file {str(path)!r}: id {int(unique[counts > 1][0])} appears more than once")
    return ids


def read_titles(path) -> dict | None:
    """Return {raw item id: title} from an `item_titles.tsv` file (None when it does not exist)."""
    path = Path(path)
    if not path.is_file():
        return None
    rows = (line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines())
    return {int(row[0]): row[1] for row in rows if len(row) == 2 and _is_int(row[0])}


def _as_int_ids(values, what: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.astype(np.int64).reshape(-1)
    if values.dtype.kind == "O":
        values = values.astype(np.bytes_ if values.size and isinstance(values.flat[0], bytes) else np.str_)
    try:
        return values.astype(np.int64).reshape(-1)
    except (ValueError, TypeError):
        bad = next((v for v in values.reshape(-1).tolist() if not _is_int(v)), values.reshape(-1)[0])
        raise DataError(f"{what}: {bad!r} is not an integer") from None


def _is_int(value) -> bool:
    try:
        int(value)
        return True
    except (ValueError, TypeError):
        return False


def _lookup(ids: np.ndarray, order: np.ndarray, raw, what: str) -> np.ndarray:
    raw = _as_int_ids(raw, what)
    if not ids.size:
        return np.zeros(raw.shape, np.int32)
    pos = np.searchsorted(ids, raw, sorter=order)
    pos = np.clip(pos, 0, ids.size - 1)
    found = ids[order[pos]] == raw
    return np.where(found, order[pos] + 1, 0).astype(np.int32)
