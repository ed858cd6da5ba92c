"""`load_recommender_data`: read the ratings, split them leave-one-out and build the `DataBundle`."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import tensorflow as tf

from kzoo.data import pipeline
from kzoo.data.bundle import DataBundle
from kzoo.data.movielens import Ratings, read_ratings_file, read_tfds_ratings
from kzoo.data.recommender.evaluation import RankingEvaluator, RankingMetricsCallback
from kzoo.data.recommender.ids import IdMaps
from kzoo.data.recommender.protocol import Interactions, leave_one_out
from kzoo.data.recommender.sampling import (
    EpochSampler,
    pair_keys,
    pointwise_dataset,
    sample_eval_candidates,
    train_dataset,
)
from kzoo.data.recommender.seen import SeenItems
from kzoo.data.recommender.synthetic import synthetic_ratings
from kzoo.errors import DataError, DataUnavailableError

SOURCES = ("auto", "tfds", "synthetic")


def _read_source(data: Mapping, source, data_dir, seed: int) -> tuple[Ratings, str, list]:
    notes = []
    if isinstance(source, str) and source in SOURCES:
        if source == "synthetic":
            return _synthetic(data, seed), "synthetic", notes
        name = data.dataset
        try:
            return read_tfds_ratings(name, data_dir, download="auto"), "tfds", notes
        except DataUnavailableError as err:
            if source == "tfds":
                raise
            notes.append(f"tfds {name!r} unavailable ({err}); using generated data instead")
            return _synthetic(data, seed), "synthetic", notes
    return read_ratings_file(source), "files", notes


def read_ratings(data: Mapping, source, data_dir, seed: int) -> tuple[Ratings, str, list]:
    """`(ratings, kind, notes)` of a recommender's `source` ("auto", "tfds", "synthetic" or a path; kind:
    "tfds", "files" or "synthetic"), cut to the whole users that fit in `data.max_examples` ratings.
    DataError when nothing is left."""
    ratings, kind, notes = _read_source(data, source, data_dir, seed)
    keep = pipeline.first_users(ratings.users, pipeline.max_examples(data, kind))
    if not keep.all():
        ratings = dataclasses.replace(ratings, users=ratings.users[keep], items=ratings.items[keep],
                                      ratings=ratings.ratings[keep], timestamps=ratings.timestamps[keep])
    if not len(ratings):
        raise DataError(f"{ratings.name}: no ratings")
    return ratings, kind, notes


def _synthetic(data: Mapping, seed: int) -> Ratings:
    return synthetic_ratings(
        seed,
        num_users=data.synthetic_users,
        num_items=data.synthetic_items,
        per_user=data.synthetic_per_user,
    )


def _check_settings(data: Mapping) -> dict:
    settings = {
        "validation": data.validation,
        "num_negatives": data.num_negatives,
        "eval_negatives": data.eval_negatives,
        "full_ranking": data.full_ranking,
        "top_k": data.top_k,
    }
    if settings["num_negatives"] < 0:
        raise DataError(f"data.num_negatives must be >= 0, got {settings['num_negatives']}")
    if settings["eval_negatives"] < 1:
        raise DataError(f"data.eval_negatives must be >= 1, got {settings['eval_negatives']}")
    if settings["top_k"] < 1:
        raise DataError(f"data.top_k must be >= 1, got {settings['top_k']}")
    return settings


def evaluation_candidates(split: Interactions, eval_negatives: int, seed: int, notes: list) -> dict:
    """{"val" (with a validation split), "test": (users, candidates, valid)}: each held-out item first, then
    `eval_negatives` items the user never interacted with, drawn once from `seed` (`sample_eval_candidates`),
    so every model evaluated on the same data and seed ranks against the same candidates. Appends a note
    when some users have fewer unseen items than asked."""
    eval_rng = {"test": np.random.default_rng([seed, 202]), "val": np.random.default_rng([seed, 303])}
    candidates = {}
    for name, users, items in (("val", split.val_users, split.val_items), ("test", split.test_users, split.test_items)):
        if users is None:
            continue
        cands, valid = sample_eval_candidates(
            users, items, split.all_users, split.all_items, split.num_items, eval_negatives, eval_rng[name]
        )
        candidates[name] = (users, cands, valid)
        short = int((~valid.all(axis=1)).sum())
        if short:
            notes.append(f"{name}: {short} users have fewer than {eval_negatives} unseen items to rank against")
    return candidates


def load_recommender_data(
    config: Mapping,
    source="auto",
    data_dir=None,
    seed: int = 0,
    batch_size: int | None = None,
    shard: tuple[int, int] | None = None,
    preprocessor: "IdMaps | None" = None,
) -> DataBundle:
    """Return the leave-one-out implicit-feedback `DataBundle` for an NCF config.

    Args:
      config: resolved config; uses `data.dataset` (tfds name), `data.validation`,
        `data.num_negatives`, `data.eval_negatives`, `data.full_ranking`, `data.top_k`
        and `train.batch_size`.
      source: "auto" (tfds, else generated data), "tfds", "synthetic", or a path to `u.data`,
        `ratings.dat`, `ratings.csv` or a folder holding one.
      data_dir: tfds data directory.
      seed: fixes the evaluation candidates and the per-epoch negatives (epoch e uses seed, e).
      batch_size: training / pointwise evaluation batch size (default `train.batch_size`).
      shard: `(num_workers, index)`: this worker's share of the training positives.
      preprocessor: the `IdMaps` of an earlier run on the same ratings (a resumed or refit run), so
        its model's embedding rows keep their meaning; default: built from the ratings.
    `bundle.preprocessor` is the `IdMaps`; copy its `num_users` / `num_items` into the model config.
    """
    data = config.data
    settings = _check_settings(data)
    if batch_size is None:
        batch_size = int(config.train.batch_size)
    ratings, kind, notes = read_ratings(data, source, data_dir, seed)
    maps = preprocessor if preprocessor is not None else IdMaps.from_raw(ratings.users, ratings.items)
    split = leave_one_out(
        maps.map_users(ratings.users), maps.map_items(ratings.items), ratings.timestamps,
        maps.num_users, maps.num_items, settings["validation"],
    )
    notes += split.notes
    # What serving leaves out of a user's recommendations: every item they rated, held-out ones too.
    maps.seen = SeenItems.from_pairs(split.all_users, split.all_items, maps.num_users)
    if ratings.titles:
        maps.item_titles = ratings.titles
    if not split.test_users.size:
        raise DataError(f"{ratings.name}: no user has two interactions, nothing to hold out for testing")

    candidates = evaluation_candidates(split, settings["eval_negatives"], seed, notes)
    evaluator = RankingEvaluator(split, candidates, settings["top_k"], settings["full_ranking"])

    train_users, train_items = split.train_users, split.train_items
    if shard is not None:
        workers, index = shard
        keep = len(train_users) // workers  # equal shards: every worker runs the same number of steps
        train_users, train_items = train_users[index::workers][:keep], train_items[index::workers][:keep]
    positive_keys = np.unique(pair_keys(split.train_users, split.train_items, maps.num_items))
    sampler = EpochSampler(
        train_users, train_items, maps.num_items, settings["num_negatives"], positive_keys, batch_size, seed
    )
    pointwise = {
        name: pointwise_dataset(users, cands, valid, batch_size) for name, (users, cands, valid) in candidates.items()
    }
    callbacks = [RankingMetricsCallback(evaluator, "val")] if "val" in candidates else []
    # Rows, as the pipelines count them: train = positives + their sampled negatives; val / test = each
    # held-out item with its ranking candidates. The `_positives` / `_users` counts say what they hold.
    sizes = {"train": sampler.rows, "train_positives": int(len(train_users))}
    sizes.update({name: int(valid.sum()) for name, (_, _, valid) in candidates.items()})
    sizes.update({f"{name}_users": int(len(users)) for name, (users, _, _) in candidates.items()})
    notes.append(
        f"pointwise val/test rows: each held-out item (label 1) with its {settings['eval_negatives']} "
        f"ranking candidates (label 0); train rows: positives + {settings['num_negatives']} fresh negatives each, per epoch"
    )
    return DataBundle(
        train=train_dataset(sampler),
        val=pointwise.get("val"),
        test=pointwise["test"],
        source=kind,
        name=ratings.name if kind != "tfds" else data.dataset,
        sizes=sizes,
        preprocessor=maps,
        evaluate=evaluator,
        callbacks=callbacks,
        notes=notes,
        raw_train=_raw_positives(maps, split.train_users, split.train_items),
    )


def _raw_positives(maps: IdMaps, users: np.ndarray, items: np.ndarray):
    """The training positives as raw int64 ids (what a client sends), not the sampled negatives: a `raw_train`."""
    known = (users > 0) & (items > 0)  # index 0: an id a reused IdMaps does not know; it has no raw id
    return tf.data.Dataset.from_tensor_slices({"user_id": maps.user_ids[users[known] - 1],
                                               "item_id": maps.item_ids[items[known] - 1]})
