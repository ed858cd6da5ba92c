"""Ordered histories for sequential recommendation (`sasrec`): the NCF leave-one-out split, read in time order.

`load_sequence_data(config, ...)` returns a `DataBundle` built from the same pieces as the other
recommenders' (`load_recommender_data`), so the two kinds of model are scored on the same thing:

- the ratings are read by `read_ratings` (tfds, `u.data` / `ratings.dat` / `ratings.csv`, synthetic;
  `data.max_examples` keeps whole users), raw ids become indices through `IdMaps`, and
  `leave_one_out` splits them: each user's interactions ordered by timestamp, equal timestamps by
  the fixed hash of the (user, item) pair (`tie_break_key`: ordering them by item id would bias the
  held-out items' popularity, see there); the latest is the test item, the second latest the
  validation item (`data.validation`), the rest trains. That order is each user's history;
- training: one row per user with at least two training items, inputs = items[:-1] and targets =
  items[1:] (the next item at every position), the most recent `data.max_length` of each,
  left-padded with index 0 (so the latest item sits at the last position); a user's validation and
  test items never appear in them. Shuffled per epoch from the seed;
- evaluation: the validation item is predicted from the items before it, the test item from every
  item before it (the validation item included: it is the user's own history, only its label was
  held out of training, as in SASRec's protocol), each cut to the last `data.max_length`. The
  candidates (the held-out item and `data.eval_negatives` unrated items drawn from the seed) are
  `evaluation_candidates`', the ranking and its tie rule `RankingEvaluator`'s: HR@K / NDCG@K against
  the sampled candidates (or every item with `data.full_ranking: true`), and on the test split the
  full-catalogue `full_recall@K` / `full_ndcg@K` (every item the user never rated competes) besides.

The preprocessor is a `SequenceIdMaps`: the id maps, the seen items (which serving leaves out) and each
user's whole ordered history (`Histories`, which `recommend` reads for a known user).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from kzoo import ranking
from kzoo.data.bundle import DataBundle
from kzoo.data.recommender.evaluation import RankingEvaluator, RankingMetricsCallback
from kzoo.data.recommender.ids import IdMaps
from kzoo.data.recommender.loader import evaluation_candidates, read_ratings
from kzoo.data.recommender.protocol import Interactions, leave_one_out
from kzoo.data.recommender.seen import SeenItems
from kzoo.errors import DataError
from kzoo.models.sasrec import sequence_parts

PADDING = 0  # the item index of an empty position (and of an unknown item): never a target, never recommended
# What pads a raw history sent to `recommend_from_history`: no MovieLens item id is negative (a user's own data
# may number an item 0, so 0 cannot pad raw ids).
HISTORY_PADDING = -1


class Histories(SeenItems):
    """Each user index's item indices in time order (oldest first), CSR like `SeenItems` (whose
    `items` are sorted instead); saved as `histories.txt`, line k the history of user index k + 1."""

    FILE = "histories.txt"

    @classmethod
    def from_ordered(cls, users, items, num_users: int) -> "Histories":
        """From interactions grouped by user (index order) and in time order within each user, as
        `leave_one_out` returns them (`Interactions.all_users` / `all_items`)."""
        users = np.asarray(users, np.int64)
        if users.size and np.any(np.diff(users) < 0):
            raise DataError("Histories: interactions must be grouped by user index, in increasing order")
        counts = np.bincount(users, minlength=num_users + 1)[: num_users + 1]
        return cls(np.concatenate([[0], np.cumsum(counts)]), np.asarray(items, np.int32))

    def windows(self, users, max_length: int, drop_last: int = 0) -> np.ndarray:
        """int32 `[U, max_length]`: each user's history without its last `drop_last` items, its most recent
        `max_length` items right-aligned, left-padded with `PADDING`."""
        users = np.asarray(users, np.int64)
        ends = self.splits[users + 1] - drop_last
        starts = np.maximum(self.splits[users], ends - max_length)
        return right_aligned(self.items, starts, ends, max_length)


def right_aligned(values: np.ndarray, starts, ends, width: int) -> np.ndarray:
    """int32 `[U, width]`: row u holds `values[starts[u]:ends[u]]` (at most `width` of them) at its right end,
    `PADDING` before them."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    lengths = np.clip(ends - starts, 0, width)
    out = np.full((starts.size, width), PADDING, np.int32)
    rows = np.repeat(np.arange(starts.size), lengths)
    offset = np.arange(rows.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # 0.. within each row
    out[rows, width - np.repeat(lengths, lengths) + offset] = values[np.repeat(ends - lengths, lengths) + offset]
    return out


class SequenceIdMaps(IdMaps):
    """`IdMaps` plus each user's ordered history (`histories`) and the history length the model reads
    (`max_length`, the run's `data.max_length`), saved beside the id maps."""

    SETTINGS_FILE = "sequences.json"

    def __init__(self, user_ids, item_ids, seen=None, item_titles=None, histories: Histories | None = None,
                 max_length: int | None = None):
        super().__init__(user_ids, item_ids, seen=seen, item_titles=item_titles)
        self.histories, self.max_length = histories, max_length

    def model_overrides(self) -> dict:
        """What the model takes from the data: the item count and the history length (no user table)."""
        return {"num_items": self.num_items, **({"max_length": self.max_length} if self.max_length else {})}

    def save(self, directory) -> None:
        super().save(directory)
        if self.histories is not None:
            self.histories.save(directory)
        (Path(directory) / self.SETTINGS_FILE).write_text(json.dumps({"max_length": self.max_length}) + "\n",
                                                          encoding="utf-8")

    @classmethod
    def load(cls, directory) -> "SequenceIdMaps":
        maps = IdMaps.load(directory)
        settings = Path(directory) / cls.SETTINGS_FILE
        max_length = json.loads(settings.read_text(encoding="utf-8")).get("max_length") if settings.is_file() else None
        return cls(maps.user_ids, maps.item_ids, seen=maps.seen, item_titles=maps.item_titles,
                   histories=Histories.load(directory, maps.num_users), max_length=max_length)

    def history_indices(self, raw_histories) -> tuple[np.ndarray, np.ndarray]:
        """`(item_index [B, max_length], unknown [B])` of raw item-id histories `[B, T]` (oldest first, padded
        with `HISTORY_PADDING`): the same as the export's `recommend_from_history` makes in its graph (unknown
        ids dropped and counted, the most recent `max_length` known items right-aligned)."""
        raw = np.asarray(raw_histories, np.int64).reshape(len(raw_histories), -1)
        index = self.map_items(raw.reshape(-1)).reshape(raw.shape)
        real = raw != HISTORY_PADDING
        known = real & (index != PADDING)
        counts = known.sum(axis=1)
        ends = np.cumsum(counts)
        compact = index[known]
        return right_aligned(compact, ends - counts, ends, self.max_length), (real & ~known).sum(axis=1).astype(np.int32)


class LastPositionScorer:
    """`RankingEvaluator`'s scorer for sequence models: each user's history before the split's held-out item
    (val: without its last two items, test: without its last one), the model's logits at the last position,
    read at the asked items. One [U, d] x [d, N + 1] product per call (`kzoo.models.sasrec.sequence_parts`)."""

    def __init__(self, histories: Histories, max_length: int, batch_size: int = 256):
        self.histories, self.max_length, self.batch_size = histories, max_length, batch_size
        self._parts = (None, None)

    def logits(self, model, windows: np.ndarray) -> np.ndarray:
        """float32 `[U, N + 1]`: the model's last-position logits of right-aligned index windows."""
        if self._parts[0] is not model:  # one state sub-model (and one traced predict) per model scored
            self._parts = (model, sequence_parts(model))
        parts = self._parts[1]
        if parts is None:
            raise DataError(f"model {model.name!r} is not a sequence model (no item_embedding / sequence_state layers)")
        # Length-sorted batches, each trimmed to its longest history (as training's): the same states, half the work.
        lengths = (windows != PADDING).sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        batches = [windows[rows, windows.shape[1] - min(windows.shape[1], max(16, -(-int(lengths[rows].max()) // 16) * 16)):]
                   for rows in np.array_split(order, max(1, -(-order.size // self.batch_size)))]
        spec = tf.TensorSpec((None, None), tf.int32)
        state = np.empty((order.size, parts["items"].output_dim), np.float32)
        ds = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)
        state[order] = parts["last_state"].predict(ds.apply(tf.data.experimental.assert_cardinality(len(batches))),
                                                   verbose=0)
        table = np.asarray(parts["items"].embeddings, np.float32)
        return state @ table.T

    def __call__(self, model, split: str, users, items) -> np.ndarray:
        windows = self.histories.windows(users, self.max_length, drop_last=2 if split == "val" else 1)
        return np.take_along_axis(self.logits(model, windows), np.asarray(items, np.int64), axis=1)


class SequenceEvaluator(RankingEvaluator):
    """`RankingEvaluator` whose test metrics carry both protocols: the configured one's `hr@K` / `ndcg@K`,
    and the full-catalogue `full_recall@K` / `full_ndcg@K` (one held-out item: recall@K = HR@K)."""

    def __call__(self, model, split: str = "test") -> dict:
        metrics = super().__call__(model, split)
        if split == "test":
            k = self.top_k
            if self.full_ranking:
                full = metrics
            else:
                users, candidates, _ = self.candidates[split]
                full = ranking.ranking_metrics(self._full_ranks(model, split, users, candidates[:, 0]), k)
            metrics.update({f"full_recall@{k}": full[f"hr@{k}"], f"full_ndcg@{k}": full[f"ndcg@{k}"]})
        return metrics


def training_rows(split: Interactions, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """`(inputs, targets)`, int32 `[U, max_length]` each: per user with two or more training items, its
    training items but the last as inputs and but the first as targets (the next item at every
    position), the most recent `max_length` of each right-aligned, left-padded with `PADDING`."""
    train = Histories.from_ordered(split.train_users, split.train_items, split.num_users)
    counts = train.counts()
    users = np.flatnonzero(counts >= 2)
    inputs = train.windows(users, max_length, drop_last=1)
    ends = train.splits[users + 1]
    targets = right_aligned(train.items, np.maximum(train.splits[users] + 1, ends - max_length), ends, max_length)
    return inputs, targets


class LengthSortedBatches:
    """The training rows as batches of similar history length, the common padding trimmed: a fresh order every pass.

    A pass (epoch e draws from the seed and e) shuffles the rows, sorts each chunk of `chunk_batches`
    batches by length, cuts it into batches, trims each batch to its longest row rounded up to
    `round_to` positions (few shapes, few retraces) and shuffles the batches. The model reads
    right-aligned rows with positions counted from the end (`RecentPositionEmbedding`), so trimming
    leading padding changes no output: on ML-100k at `max_length` 200 a pass computes about 45 % of
    the positions the full windows hold (half the users rated fewer than 65 films).
    """

    def __init__(self, inputs, targets, batch_size: int, seed: int, chunk_batches: int = 8, round_to: int = 16):
        self.inputs, self.targets, self.batch_size, self.seed = inputs, targets, batch_size, seed
        self.chunk, self.round_to = batch_size * chunk_batches, round_to
        self.lengths = (inputs != PADDING).sum(axis=1)
        self.epoch = 0

    def epoch_batches(self, epoch: int) -> list:
        """The `(inputs, targets)` batches of pass `epoch`, in order."""
        rng = np.random.default_rng([self.seed, 404, epoch])
        order = rng.permutation(len(self.inputs))
        width = self.inputs.shape[1]
        batches = []
        for a in range(0, order.size, self.chunk):
            chunk = order[a : a + self.chunk]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for b in range(0, chunk.size, self.batch_size):
                rows = chunk[b : b + self.batch_size]
                keep = min(width, max(1, -(-int(self.lengths[rows].max()) // self.round_to)) * self.round_to)
                batches.append((self.inputs[rows, width - keep :], self.targets[rows, width - keep :]))
        return [batches[i] for i in rng.permutation(len(batches))]

    def __call__(self):
        batches = self.epoch_batches(self.epoch)
        self.epoch += 1
        yield from batches

    def dataset(self) -> tf.data.Dataset:
        spec = tf.TensorSpec((None, None), tf.int32)
        steps = -(-len(self.inputs) // self.batch_size)
        ds = tf.data.Dataset.from_generator(self, output_signature=(spec, spec))
        return ds.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)


def load_sequence_data(config: Mapping, source="auto", data_dir=None, seed: int = 0, batch_size: int | None = None,
                       shard: tuple[int, int] | None = None, preprocessor: IdMaps | None = None) -> DataBundle:
    """Return the ordered leave-one-out `DataBundle` of a sequential recommender's config (see the module doc).

    Uses `data.dataset`, `data.validation`, `data.max_length`, `data.eval_negatives`, `data.full_ranking`,
    `data.top_k` and `train.batch_size`; `source`, `data_dir`, `seed`, `shard` and `preprocessor` (the id maps
    of an earlier run on the same ratings) as `load_recommender_data` takes them.
    `bundle.preprocessor` is a `SequenceIdMaps`; its `model_overrides()` sizes the model.
    """
    data = config.data  # its ranges (max_length, eval_negatives, top_k >= 1) are the schema's, checked on resolve
    max_length = data.max_length
    batch_size = config.train.batch_size if batch_size is None else batch_size
    ratings, kind, notes = read_ratings(data, source, data_dir, seed)
    if preprocessor is not None:
        maps = SequenceIdMaps(preprocessor.user_ids, preprocessor.item_ids, item_titles=preprocessor.item_titles)
    else:
        base = IdMaps.from_raw(ratings.users, ratings.items)
        maps = SequenceIdMaps(base.user_ids, base.item_ids)
    maps.max_length = max_length
    split = leave_one_out(maps.map_users(ratings.users), maps.map_items(ratings.items), ratings.timestamps,
                          maps.num_users, maps.num_items, data.validation)
    notes += split.notes
    maps.seen = SeenItems.from_pairs(split.all_users, split.all_items, maps.num_users)
    maps.histories = Histories.from_ordered(split.all_users, split.all_items, maps.num_users)
    if ratings.titles:
        maps.item_titles = ratings.titles
    if not split.test_users.size:
        raise DataError(f"{ratings.name}: no user has two interactions, nothing to hold out for testing")

    candidates = evaluation_candidates(split, data.eval_negatives, seed, notes)
    scorer = LastPositionScorer(maps.histories, max_length)
    evaluator = SequenceEvaluator(split, candidates, data.top_k, data.full_ranking, score=scorer)

    inputs, targets = training_rows(split, max_length)
    if not len(inputs):
        raise DataError(f"{ratings.name}: no user has two training interactions, nothing to learn an order from")
    longer = int((Histories.from_ordered(split.train_users, split.train_items, split.num_users).counts()
                  > max_length + 1).sum())
    if longer:
        notes.append(f"{longer} of {len(inputs)} users have more than data.max_length + 1 = {max_length + 1} training items: "
                     "their older ones are not read")
    if shard is not None:
        workers, index = shard
        keep = len(inputs) // workers  # equal shards: every worker runs the same number of steps
        inputs, targets = inputs[index::workers][:keep], targets[index::workers][:keep]
    train = LengthSortedBatches(inputs, targets, batch_size, seed).dataset()
    test = _held_out_dataset(maps.histories, candidates["test"][0], candidates["test"][1][:, 0], 1, max_length,
                             batch_size)
    notes.append(f"train rows: one per user, the next item at each of up to {max_length} positions "
                 f"({int((targets != PADDING).sum())} targets); val / test: each user's held-out item after its history")
    sizes = {"train": int(len(inputs)), "train_targets": int((targets != PADDING).sum())}
    sizes.update({name: int(len(users)) for name, (users, _, _) in candidates.items()})
    return DataBundle(
        train=train,
        val=None,  # validation is `val_hr@K`, ranked by the callback after each epoch (no val_loss pass)
        test=test,
        source=kind,
        name=ratings.name if kind != "tfds" else data.dataset,
        sizes=sizes,
        preprocessor=maps,
        evaluate=evaluator,
        callbacks=[RankingMetricsCallback(evaluator, "val")] if "val" in candidates else [],
        notes=notes,
    )


def _held_out_dataset(histories: Histories, users, targets, drop_last: int, max_length: int, batch_size: int):
    """`(history window, targets)` batches whose only target is the held-out item at the last position
    (`model.evaluate` gives its cross-entropy; the run's own test is `bundle.evaluate`'s ranking)."""
    x = histories.windows(users, max_length, drop_last=drop_last)
    y = np.zeros_like(x)
    y[:, -1] = targets
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
