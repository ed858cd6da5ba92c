"""The leave-one-out recommender data protocol: file formats, splits, sampling, id maps, errors."""

import numpy as np
import pytest
import keras

import kzoo
from kzoo import ranking
from kzoo.data import DataError
from kzoo.data.movielens import read_ratings_file
from kzoo.data.recommender import (
    IdMaps,
    leave_one_out,
    load_recommender_data,
    pair_keys,
    sample_negatives,
    tie_break_key,
)

# user, item, rating, timestamp. User 1's latest is item 30, then 20; user 2's last two ratings
# share a timestamp (the tie); user 3 has a single rating (kept for training, not evaluated).
ROWS = [
    (1, 10, 4, 100), (1, 20, 3, 300), (1, 30, 5, 400), (1, 40, 2, 200),
    (2, 10, 5, 100), (2, 20, 4, 500), (2, 50, 1, 500), (2, 60, 3, 50),
    (3, 40, 4, 10),
    (4, 10, 3, 1), (4, 50, 3, 2), (4, 60, 3, 3), (4, 70, 3, 4),
]


def config(**data):
    return kzoo.get_config("gmf", {f"data.{key}": value for key, value in data.items()})


def write(tmp_path, name, rows=ROWS):
    sep, header = {"u.data": ("\t", ""), "ratings.dat": ("::", ""), "ratings.csv": (",", "userId,movieId,rating,timestamp\n")}[name]
    path = tmp_path / name
    path.write_text(header + "".join(sep.join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def udata(tmp_path):
    return write(tmp_path, "u.data")


@pytest.mark.parametrize("name", ["u.data", "ratings.dat", "ratings.csv"])
def test_every_file_format_reads_the_same_table(tmp_path, name):
    ratings = read_ratings_file(write(tmp_path, name))
    np.testing.assert_array_equal(ratings.users, [r[0] for r in ROWS])
    np.testing.assert_array_equal(ratings.items, [r[1] for r in ROWS])
    np.testing.assert_array_equal(ratings.timestamps, [r[3] for r in ROWS])
    assert read_ratings_file(tmp_path).name == str(tmp_path / name)  # a folder works too


@pytest.mark.smoke
def test_leave_one_out_holds_out_the_latest_and_the_second_latest(udata):
    bundle = load_recommender_data(config(eval_negatives=2), str(udata))
    maps, split = bundle.preprocessor, bundle.evaluate.data
    assert (maps.num_users, maps.num_items) == (4, 7)
    test = dict(zip(split.test_users.tolist(), maps.raw_items(split.test_items).tolist()))
    val = dict(zip(split.val_users.tolist(), maps.raw_items(split.val_items).tolist()))
    u = maps.map_users([1, 2, 3, 4]).tolist()
    assert test[u[0]] == 30 and val[u[0]] == 20
    assert test[u[3]] == 70 and val[u[3]] == 60
    assert u[2] not in test and u[2] not in val  # single rating: training only
    assert any("single interaction" in note for note in bundle.notes)
    # User 2's tie (items 20 and 50 at t=500): the pair with the larger tie-break key is latest.
    keys = tie_break_key([u[1], u[1]], maps.map_items([20, 50]))
    assert test[u[1]] == (20 if keys[0] > keys[1] else 50)
    assert val[u[1]] == (50 if keys[0] > keys[1] else 20)
    assert bundle.sizes["train"] == (13 - 6) * 5


def test_split_does_not_depend_on_row_order_or_source(tmp_path, udata):
    shuffled = [ROWS[i] for i in np.random.default_rng(0).permutation(len(ROWS))]
    a = load_recommender_data(config(), str(udata), seed=3)
    b = load_recommender_data(config(), str(write(tmp_path, "ratings.csv", shuffled)), seed=3)
    for name in ("test", "val"):
        for x, y in zip(a.evaluate.candidates[name], b.evaluate.candidates[name]):
            np.testing.assert_array_equal(x, y)


def test_training_negatives_avoid_the_users_training_positives_and_change_each_epoch():
    bundle = load_recommender_data(config(), "synthetic", seed=0, batch_size=512)
    split = bundle.evaluate.data
    positives = set(pair_keys(split.train_users, split.train_items, split.num_items).tolist())

    def epoch():
        x, y = zip(*[(b[0], b[1]) for b in bundle.train.as_numpy_iterator()])
        users = np.concatenate([b["user_id"] for b in x])
        items = np.concatenate([b["item_id"] for b in x])
        labels = np.concatenate(y)
        return pair_keys(users, items, split.num_items), labels

    keys1, labels1 = epoch()
    keys2, labels2 = epoch()
    assert labels1.dtype == np.float32 and labels1.sum() == split.train_users.size
    assert len(keys1) == bundle.sizes["train"] == split.train_users.size * 5
    for keys, labels in ((keys1, labels1), (keys2, labels2)):
        assert not set(keys[labels == 0].tolist()) & positives
        assert set(keys[labels == 1].tolist()) == positives
    assert not np.array_equal(np.sort(keys1[labels1 == 0]), np.sort(keys2[labels2 == 0]))
    assert not np.array_equal(keys1[:50], keys2[:50])  # reshuffled too


def test_sample_negatives_handles_nearly_saturated_users():
    # User 1 interacted with items 1..9 of 10: its only possible negative is item 10.
    keys = np.sort(pair_keys(np.ones(9), np.arange(1, 10), 10))
    items = sample_negatives(np.ones(200, np.int64), 10, keys, np.random.default_rng(0), max_rounds=2)
    assert (items == 10).all()
    with pytest.raises(DataError, match="every item"):
        sample_negatives(np.ones(3, np.int64), 9, np.sort(pair_keys(np.ones(9), np.arange(1, 10), 9)),
                         np.random.default_rng(0), max_rounds=1)


def test_eval_candidates_are_fixed_by_the_seed_and_unseen_by_the_user():
    a = load_recommender_data(config(), "synthetic", seed=5)
    b = load_recommender_data(config(), "synthetic", seed=5)
    c = load_recommender_data(config(), "synthetic", seed=6)
    split = a.evaluate.data
    seen = set(pair_keys(split.all_users, split.all_items, split.num_items).tolist())
    for name in ("val", "test"):
        users, cands, valid = a.evaluate.candidates[name]
        np.testing.assert_array_equal(cands, b.evaluate.candidates[name][1])
        assert not np.array_equal(cands, c.evaluate.candidates[name][1])
        assert cands.shape == (users.size, 100) and valid.all()
        negatives = pair_keys(np.repeat(users, 99), cands[:, 1:].reshape(-1), split.num_items)
        assert not set(negatives.tolist()) & seen
        assert all(len(set(row)) == 99 for row in cands[:, 1:].tolist())
    # The pointwise test set holds the same candidates, the held-out item labelled 1.
    labels = np.concatenate([y for _, y in a.test.as_numpy_iterator()])
    assert labels.size == a.sizes["test"] == 100 * users.size and labels.sum() == users.size


def test_trained_model_beats_random_and_callback_logs_val_metrics():
    cfg = config()
    bundle = load_recommender_data(cfg, "synthetic", seed=0, batch_size=128)
    cfg = cfg.override({"model.num_users": bundle.preprocessor.num_users,
                        "model.num_items": bundle.preprocessor.num_items, "model.embedding_size": 16,
                        "train.learning_rate": 0.01, "train.schedule": "constant"})
    keras.utils.set_random_seed(0)
    model = kzoo.build_from_config(cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_hr@10", mode="max", patience=5)
    # shuffle=False: the dataset shuffles itself (Keras warns that it ignores shuffle=True for one)
    history = model.fit(bundle.train, epochs=3, callbacks=[*bundle.callbacks, stop], verbose=0, shuffle=False).history
    assert len(history["val_hr@10"]) == 3 and "val_ndcg@10" in history
    metrics = bundle.evaluate(model, "test")
    assert set(metrics) == {"hr@10", "ndcg@10"}
    assert metrics["hr@10"] > 0.35, metrics  # random ranking gives ~0.10; this reaches ~0.55
    assert 0 < metrics["ndcg@10"] < metrics["hr@10"]
    loss = model.evaluate(bundle.test, verbose=0, return_dict=True)
    assert np.isfinite(loss["loss"])
    # The candidates' raw scores: held-out item first, one row per evaluated user, same ranks as evaluate().
    scores, valid = bundle.evaluate.candidate_scores(model, "test")
    users, candidates, _ = bundle.evaluate.candidates["test"]
    assert scores.shape == candidates.shape == valid.shape and scores.shape[0] == users.size
    direct = model.predict({"user_id": users, "item_id": candidates[:, 0]}, verbose=0)
    np.testing.assert_allclose(scores[:, 0], np.reshape(direct, -1), rtol=1e-5, atol=1e-6)
    assert ranking.ranking_metrics(ranking.rank_of_positive(scores[:, 0], scores[:, 1:], valid[:, 1:]), 10) == metrics
    # Full ranking (all items but the user's other interactions) is harder than 1-in-100.
    full = load_recommender_data(config(full_ranking=True), "synthetic", seed=0).evaluate(model, "test")
    assert 0 < full["hr@10"] < metrics["hr@10"]
    with pytest.raises(DataError, match="unknown split 'train'"):
        bundle.evaluate(model, "train")


def test_no_validation_and_sharding(udata):
    bundle = load_recommender_data(config(validation=False, eval_negatives=3), str(udata), batch_size=4)
    assert bundle.val is None and bundle.callbacks == [] and "val" not in bundle.sizes
    with pytest.raises(DataError, match="data.validation"):
        bundle.evaluate(None, "val")
    full = load_recommender_data(config(), "synthetic").sizes["train"]
    parts = [load_recommender_data(config(), "synthetic", shard=(3, i)).sizes["train"] for i in range(3)]
    assert len(set(parts)) == 1 and full - 3 * parts[0] < 3 * 5  # equal shards (< 3 positives, 4 negatives each, left out)


def test_id_maps_save_load_and_lookup(tmp_path):
    maps = IdMaps.from_raw([7, 3, 7, 100], [55, 2])
    assert (maps.num_users, maps.num_items) == (3, 2)
    np.testing.assert_array_equal(maps.map_users([3, 7, 100, 4]), [1, 2, 3, 0])  # 4 is unknown
    np.testing.assert_array_equal(maps.map_items(["55", "2", "9"]), [2, 1, 0])
    maps.save(tmp_path)
    assert (tmp_path / "user_ids.txt").read_text() == "3\n7\n100\n"
    loaded = IdMaps.load(tmp_path)
    np.testing.assert_array_equal(loaded.map_users([100, 3]), [3, 1])
    np.testing.assert_array_equal(loaded.item_ids, maps.item_ids)
    (tmp_path / "item_ids.txt").write_text("2\nfoo\n")
    with pytest.raises(DataError, match=r"item_ids.txt:2: id 'foo'"):
        IdMaps.load(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        IdMaps.load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="not an integer"):
        maps.map_users(["x1"])


def test_bad_input_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_recommender_data(config(), str(tmp_path / "missing.data"))
    with pytest.raises(DataError, match="no ratings file in folder"):
        load_recommender_data(config(), str(tmp_path))
    (tmp_path / "u.data").write_text("\n\n")
    with pytest.raises(DataError, match=r"u.data: the ratings file is empty"):
        read_ratings_file(tmp_path / "u.data")
    (tmp_path / "u.data").write_text("1\t2\t3\t4\n1\t3\t4\n")
    with pytest.raises(DataError, match=r"u.data:2: malformed line"):
        read_ratings_file(tmp_path / "u.data")
    (tmp_path / "ratings.dat").write_text("1::2::3::4\n1::2::3::4\nx7::3::4::5\n")
    with pytest.raises(DataError, match=r"ratings.dat:3: user id 'x7' is not an integer"):
        read_ratings_file(tmp_path / "ratings.dat")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2.5,3,4\n")
    with pytest.raises(DataError, match=r"ratings.csv:2: item id '2.5' is not an integer"):
        read_ratings_file(tmp_path / "ratings.csv")
    (tmp_path / "other.csv").write_text("user,title,rating\n")
    with pytest.raises(DataError, match=r"other.csv:1: header .* no item column"):
        read_ratings_file(tmp_path / "other.csv")


def test_leave_one_out_counts_short_users():
    split = leave_one_out([1, 2, 2, 3, 3, 3], [1, 1, 2, 1, 2, 3], [1, 1, 2, 1, 2, 3], 3, 3, validation=True)
    assert split.test_users.tolist() == [2, 3] and split.val_users.tolist() == [3]
    assert split.train_users.tolist() == [1, 2, 3]
    assert any("1 users with a single" in n for n in split.notes)
    assert any("1 users with two" in n for n in split.notes)


@pytest.mark.slow
def test_real_movielens_100k(shared_datasets):
    tfds_dir = shared_datasets / "tfds"
    raw = shared_datasets / "raw" / "ml-100k" / "u.data"
    a = load_recommender_data(config(), "tfds", str(tfds_dir))
    b = load_recommender_data(config(), str(raw))
    for bundle in (a, b):
        assert (bundle.preprocessor.num_users, bundle.preprocessor.num_items) == (943, 1682)
        split = bundle.evaluate.data
        assert np.unique(split.test_users).size == split.test_users.size == 943
        assert np.unique(split.val_users).size == 943
        assert split.train_users.size == 100_000 - 2 * 943
    np.testing.assert_array_equal(a.evaluate.candidates["test"][1], b.evaluate.candidates["test"][1])
    assert a.source == "tfds" and b.source == "files"
