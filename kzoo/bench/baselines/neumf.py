"""Hand-written baseline for kzoo's `neumf`: MovieLens-100k into NumPy, NeuMF by hand, `fit` per epoch.

Same architecture and batch size as `zoo_configs/neumf.yaml` (GMF embeddings 64, MLP embeddings
32, ReLU tower 64-32-16, embedding activity L2 0.01, Dense(1) logit; Adam 2e-3 at a constant rate;
batch 256; 30 epochs) and the same protocol written the plain way: each user's latest rating
(by timestamp, ties in file order) is the test item, all others train; every epoch draws 4
negatives per positive among the items the user never rated; the test item is ranked against 99
sampled unrated items, HR@10 / NDCG@10 (ties count against the test item). No validation split,
no early stopping, default `fit` settings. (Since the sixth session the zoo config penalises
its MLP-path embeddings with `mlp_l2: 0.3`; this baseline keeps 0.01 everywhere, as the
vs-baseline figures in BENCHMARKS.md were measured. Compute per step is the same.)

    python -m kzoo.bench.baselines.neumf --data-dir ../shared/datasets/tfds [--epochs 30]
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from ._shared import EpochTimer, report, script_main, timed_run

BATCH_SIZE, EPOCHS, METRIC, NEGATIVES, EVAL_NEGATIVES, TOP_K = 256, 30, "hr@10", 4, 99, 10


def build_model(num_users: int = 943, num_items: int = 1682) -> keras.Model:
    """NeuMF on 1-based user / item indices (row 0 unused), compiled with Adam 2e-3."""
    user = keras.Input(shape=(), dtype="int32", name="user_id")
    item = keras.Input(shape=(), dtype="int32", name="item_id")

    def embed(rows, size):
        return keras.layers.Embedding(rows + 1, size, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                      activity_regularizer=keras.regularizers.L2(0.01))

    gmf = keras.layers.Multiply()([embed(num_users, 64)(user), embed(num_items, 64)(item)])
    mlp = keras.layers.Concatenate()([embed(num_users, 32)(user), embed(num_items, 32)(item)])
    for units in (64, 32, 16):
        mlp = keras.layers.Dense(units, activation="relu")(mlp)
    logit = keras.layers.Dense(1)(keras.layers.Concatenate()([gmf, mlp]))
    model = keras.Model({"user_id": user, "item_id": item}, keras.layers.Reshape(())(logit))
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.AUC(from_logits=True, name="auc")])
    return model


def split_ratings(users, items, timestamps, seed: int = 0) -> dict:
    """1-based index arrays -> leave-one-out arrays and 99 sampled test negatives per user."""
    order = np.lexsort((timestamps, users))  # by user, then time (stable: ties keep file order)
    users, items = users[order], items[order]
    is_test = np.r_[users[1:] != users[:-1], True]
    num_users, num_items = int(users.max()), int(items.max())
    rated = set(zip(users.tolist(), items.tolist()))
    if np.bincount(users).max() > num_items - EVAL_NEGATIVES:
        raise ValueError(f"a user rated more than {num_items - EVAL_NEGATIVES} of the {num_items} items: "
                         f"too few left to draw {EVAL_NEGATIVES} test negatives")
    rng = np.random.default_rng(seed)
    negatives = []
    for u in users[is_test]:
        picked = []
        while len(picked) < EVAL_NEGATIVES:
            j = int(rng.integers(1, num_items + 1))
            if (int(u), j) not in rated and j not in picked:
                picked.append(j)
        negatives.append(picked)
    return {"train_users": users[~is_test], "train_items": items[~is_test], "test_users": users[is_test],
            "test_items": items[is_test], "test_negatives": np.asarray(negatives, np.int32),
            "rated_keys": users.astype(np.int64) * (num_items + 1) + items,
            "model_kwargs": {"num_users": num_users, "num_items": num_items}}


def load_arrays(data_dir: str | None, max_train_examples: int | None = None) -> dict:
    """MovieLens-100k ratings from a prepared tfds copy, split leave-one-out."""
    import tensorflow_datasets as tfds

    if max_train_examples:
        raise ValueError("the neumf baseline always uses all of MovieLens-100k (no --max-train-examples)")
    ratings = tfds.as_numpy(tfds.load("movielens/100k-ratings", split="train", data_dir=data_dir,
                                      download=False, batch_size=-1))
    _, users = np.unique(ratings["user_id"], return_inverse=True)
    _, items = np.unique(ratings["movie_id"], return_inverse=True)
    return split_ratings(users.astype(np.int32) + 1, items.astype(np.int32) + 1, ratings["timestamp"])


def epoch_data(arrays: dict, epoch: int = 0, seed: int = 0):
    """One epoch of training rows: every positive (label 1) and 4 fresh unrated items (label 0) each."""
    rng = np.random.default_rng([seed, epoch])
    num_items = arrays["model_kwargs"]["num_items"]
    pos_u, pos_i = arrays["train_users"], arrays["train_items"]
    neg_u = np.repeat(pos_u, NEGATIVES)
    neg_i = rng.integers(1, num_items + 1, size=neg_u.size)
    rated_keys = arrays["rated_keys"]
    while True:  # redraw the items the user rated
        bad = np.flatnonzero(np.isin(neg_u.astype(np.int64) * (num_items + 1) + neg_i, rated_keys))
        if not bad.size:
            break
        neg_i[bad] = rng.integers(1, num_items + 1, size=bad.size)
    x = {"user_id": np.r_[pos_u, neg_u].astype(np.int32), "item_id": np.r_[pos_i, neg_i].astype(np.int32)}
    y = np.r_[np.ones(pos_u.size), np.zeros(neg_u.size)].astype(np.float32)
    return x, y


def hit_rate(model, arrays: dict) -> dict:
    """HR@10 and NDCG@10 of the test items against their 99 sampled negatives."""
    candidates = np.c_[arrays["test_items"], arrays["test_negatives"]]
    users = np.repeat(arrays["test_users"], candidates.shape[1])
    scores = model.predict({"user_id": users, "item_id": candidates.ravel()}, batch_size=BATCH_SIZE, verbose=0)
    scores = scores.reshape(candidates.shape)
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)
    hit = rank < TOP_K
    return {"hr@10": float(hit.mean()), "ndcg@10": float(np.where(hit, 1 / np.log2(rank + 2), 0).mean())}


def train_and_evaluate(arrays: dict, epochs: int = EPOCHS, seed: int = 0, verbose: int = 0) -> dict:
    """Fit for `epochs` (new negatives each epoch, one `fit` call per epoch), then rank the test items."""
    keras.utils.set_random_seed(seed)
    model = build_model(**arrays["model_kwargs"])
    timer = EpochTimer()
    started = time.perf_counter()
    rows = 0
    for epoch in range(epochs):
        x, y = epoch_data(arrays, epoch, seed)
        model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, callbacks=[timer], verbose=verbose)
        rows = len(y)
    train_seconds = time.perf_counter() - started
    return report("neumf", METRIC, hit_rate(model, arrays), timer, rows, BATCH_SIZE, train_seconds,
                  time.perf_counter() - started)


def run(data_dir: str | None, epochs: int = EPOCHS, seed: int = 0, max_train_examples: int | None = None,
        verbose: int = 0) -> dict:
    """Load MovieLens-100k, train, rank; `total_seconds` counts from the first read of the data."""
    return timed_run(lambda: load_arrays(data_dir, max_train_examples), train_and_evaluate, epochs, seed, verbose)


if __name__ == "__main__":
    script_main(sys.modules[__name__])
