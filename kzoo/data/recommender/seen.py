"""The items each user has already interacted with, as one compact CSR structure, and its file.

`recommend` must not offer a user what they have already rated, so the run keeps, per user index,
the item indices of every interaction it read (all splits: the held-out items were rated too).
Stored as `splits` int64 [num_users + 2] and `items` int32 [interactions]: user index u's items are
`items[splits[u]:splits[u + 1]]`, sorted; index 0 (unknown users) has none. On disk
(`seen_items.txt`) line k (from 0) holds the space-separated item indices of user index k + 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo.errors import DataError


class SeenItems:
    """Per user index, the sorted item indices they interacted with (CSR: `splits`, `items`)."""

    FILE = "seen_items.txt"

    def __init__(self, splits, items):
        self.splits = np.asarray(splits, np.int64)
        self.items = np.asarray(items, np.int32)
        if self.splits.ndim != 1 or self.splits.size < 2 or self.splits[0] != 0 or self.splits[-1] != self.items.size:
            raise DataError("SeenItems: splits must run from 0 to the number of items, one entry per user index + 1")
        if np.any(np.diff(self.splits) < 0):
            raise DataError("SeenItems: splits must not decrease")

    @classmethod
    def from_pairs(cls, users, items, num_users: int) -> "SeenItems":
        """Build from index arrays of interactions (users 1..num_users); duplicates are merged."""
        keys = np.unique(np.asarray(users, np.int64) << 32 | np.asarray(items, np.int64))
        users, items = keys >> 32, keys & 0xFFFFFFFF
        counts = np.bincount(users, minlength=num_users + 1)[: num_users + 1]
        return cls(np.concatenate([[0], np.cumsum(counts)]), items)

    @property
    def num_users(self) -> int:
        return int(self.splits.size - 2)

    def of(self, user_index: int) -> np.ndarray:
        """The item indices user index `user_index` interacted with (none for 0, the unknown user)."""
        return self.items[self.splits[user_index] : self.splits[user_index + 1]]

    def counts(self) -> np.ndarray:
        """int64 [num_users + 1]: how many items each user index has seen."""
        return np.diff(self.splits)

    def popularity(self, num_items: int) -> np.ndarray:
        """int64 [num_items + 1]: how many users interacted with each item index (0 for index 0)."""
        return np.bincount(self.items, minlength=num_items + 1)[: num_items + 1]

    def save(self, directory) -> None:
        """Write `seen_items.txt` into `directory`: line k holds the item indices of user index k + 1."""
        lines = (" ".join(map(str, self.of(u).tolist())) + "\n" for u in range(1, self.num_users + 1))
        (Path(directory) / self.FILE).write_text("".join(lines), encoding="utf-8")

    @classmethod
    def load(cls, directory, num_users: int) -> "SeenItems | None":
        """Read `seen_items.txt` from `directory` (None when absent: a run made before it existed)."""
        path = Path(directory) / cls.FILE
        if not path.is_file():
            return None
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != num_users:
            raise DataError(f"{path}: {len(lines)} lines, expected one per user ({num_users})")
        try:
            rows = [np.asarray(line.split(), np.int32) for line in lines]
        except ValueError:
            raise DataError(f"{path}: a line holds something other than item indices") from None
        items = np.concatenate(rows) if rows else np.zeros(0, np.int32)
        return cls(np.concatenate([[0, 0], np.cumsum([row.size for row in rows], dtype=np.int64)]), items)
