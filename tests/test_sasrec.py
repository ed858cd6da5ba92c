"""`sasrec` and the sequential recommendation task: order matters, the split and tie rule are the other
recommenders', the export answers histories and known users, and both ranking protocols are reported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data.recommender import RankingEvaluator, load_recommender_data, tie_break_key
from kzoo.data.recommender.sequences import HISTORY_PADDING, SequenceIdMaps, load_sequence_data, training_rows
from kzoo.models.sasrec import sequence_parts
from kzoo.run_dir import RunDir
from kzoo.tasks import load_data
from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent
NUM_ITEMS, NUM_USERS, LENGTH = 40, 300, 10


def chain_ratings(folder: Path, seed: int = 0) -> Path:
    """A `u.data` (and `u.item`) where each next item is fixed by the one before it: every user walks the
    same random cycle over the items from a random start. A set of items says where the walk has been,
    not which end of it is the latest; the order says exactly what comes next. Rows written shuffled."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(NUM_ITEMS) + 1
    rows = []
    for user in range(1, NUM_USERS + 1):
        start = rng.integers(NUM_ITEMS)
        for step in range(LENGTH):
            rows.append(f"{user}\t{cycle[(start + step) % NUM_ITEMS]}\t4\t{880_000_000 + 1000 * user + 7 * step}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("\n".join(rows[i] for i in rng.permutation(len(rows))) + "\n", encoding="latin-1")
    (folder / "u.item").write_text("".join(f"{i}|Film {i} (1995)|01-Jan-1995||http://x|0\n"
                                           for i in range(1, NUM_ITEMS + 1)), encoding="latin-1")
    return folder / "u.data"


def sasrec_config(**dotted):
    return kzoo.get_config("sasrec", {"model.hidden_size": 16, "model.num_heads": 1, "model.num_blocks": 1,
                                      "model.dropout": 0.1, "data.max_length": LENGTH, "train.batch_size": 32,
                                      "train.learning_rate": 0.01, **dotted}, tiny=True)


def fitted(config, source, epochs):
    """`(model, bundle)`: the entry built for `source`'s data and fitted `epochs` epochs on it."""
    keras.utils.set_random_seed(0)
    bundle = load_data(config, source=str(source))
    config = config.override({f"model.{k}": v for k, v in bundle.preprocessor.model_overrides().items()})
    model = kzoo.build_from_config(config)
    model.fit(bundle.train, epochs=epochs, verbose=0)
    return model, bundle


def test_sasrec_learns_what_comes_next_where_a_set_model_cannot(tmp_path):
    path = chain_ratings(tmp_path / "chain")
    ranked = {"data.full_ranking": True, "data.top_k": 1}  # HR@1 against every item the user has not rated
    sasrec, bundle = fitted(sasrec_config(**ranked), path, epochs=12)
    sequence_hr = bundle.evaluate(sasrec, "test")["hr@1"]
    gmf_config = kzoo.get_config("gmf", {**ranked, "model.embedding_size": 16, "model.l2": 0.0,
                                         "train.learning_rate": 0.01, "train.batch_size": 64}, tiny=True)
    gmf, gmf_bundle = fitted(gmf_config, path, epochs=8)
    set_hr = gmf_bundle.evaluate(gmf, "test")["hr@1"]
    # gmf did learn the neighbourhood: the next item is among its top few (it cannot tell which end is the latest)
    near = RankingEvaluator(gmf_bundle.evaluate.data, gmf_bundle.evaluate.candidates, 5, True)(gmf, "test")["hr@5"]
    print(f"HR@1 sasrec {sequence_hr:.3f}, gmf {set_hr:.3f} (gmf HR@5 {near:.3f}, chance about 0.17)")
    assert sequence_hr >= 0.9 and set_hr <= 0.5 and near >= 0.3, (sequence_hr, set_hr, near)


def write_ratings(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{u}\t{i}\t4\t{t}\n" for u, i, t in rows), encoding="latin-1")
    return path


def test_the_latest_item_is_the_test_item_and_the_history_is_in_time_order(tmp_path):
    # user 7's ratings in file order are not in time order: 11 (t=1), 14 (t=2), 12 (t=3), 13 (t=4), 10 (t=5)
    path = write_ratings(tmp_path / "u.data", [(7, 10, 5), (7, 11, 1), (7, 12, 3), (7, 13, 4), (7, 14, 2),
                                               (8, 10, 9), (8, 12, 8)])
    config = sasrec_config(**{"data.max_length": 4})
    bundle = load_sequence_data(config, str(path), batch_size=4)
    maps, evaluate = bundle.preprocessor, bundle.evaluate
    user = maps.map_users([7])[0]
    row = list(evaluate.candidates["test"][0]).index(user)
    assert maps.raw_items([evaluate.candidates["test"][1][row, 0]]).tolist() == [10]  # the latest: test
    row = list(evaluate.candidates["val"][0]).index(user)
    assert maps.raw_items([evaluate.candidates["val"][1][row, 0]]).tolist() == [13]  # the one before: validation
    assert maps.raw_items(maps.histories.of(user)).tolist() == [11, 14, 12, 13, 10]
    inputs, targets = training_rows(evaluate.data, 4)  # only user 7 has two training items: 11, 14, 12
    assert maps.raw_items(inputs[0]).tolist() == [-1, -1, 11, 14] and maps.raw_items(targets[0]).tolist() == [-1, -1, 14, 12]
    # the model reads the items before the held-out one: val -> 11 14 12, test -> 11 14 12 13
    assert maps.raw_items(maps.histories.windows([user], 4, drop_last=2)[0]).tolist() == [-1, 11, 14, 12]
    assert maps.raw_items(maps.histories.windows([user], 4, drop_last=1)[0]).tolist() == [11, 14, 12, 13]


def test_equal_timestamps_follow_the_recommenders_tie_rule_and_the_split_is_theirs(tmp_path):
    # Users 1..30 rate items 1..5, the last two in the same second: the fixed (user, item) hash orders them.
    rows = [(u, i, 100 + min(i, 4)) for u in range(1, 31) for i in range(1, 6)]
    path = write_ratings(tmp_path / "u.data", rows)
    bundle = load_sequence_data(sasrec_config(**{"data.max_length": 6}), str(path), batch_size=8)
    ncf = load_recommender_data(kzoo.get_config("gmf", tiny=True), str(path), batch_size=8)
    maps = bundle.preprocessor
    users, candidates, _ = bundle.evaluate.candidates["test"]
    later = np.where(tie_break_key(users, maps.map_items([4])[0]) > tie_break_key(users, maps.map_items([5])[0]), 4, 5)
    assert maps.raw_items(candidates[:, 0]).tolist() == later.tolist()
    assert 4 in later and 5 in later  # both orders happen: not by id
    for split in ("val", "test"):  # the same held-out items and sampled candidates as the NCF entries'
        for mine, theirs in zip(bundle.evaluate.candidates[split], ncf.evaluate.candidates[split]):
            np.testing.assert_array_equal(mine, theirs)


def test_trimmed_batches_give_the_states_of_full_windows(tiny_config):
    """Training batches and evaluation trim leading padding; positions counted from the end keep every output."""
    config = tiny_config("sasrec")
    model = kzoo.build_from_config(config)
    x, _ = kzoo.example_batch(config, batch_size=6)
    x[:, :3] = 0  # every row has 3 padded steps at least
    full = np.asarray(model(x, training=False))
    real = x[:, 3:] != 0  # a padded position's output is no prediction (it has no target): only real ones compare
    np.testing.assert_allclose(np.asarray(model(x[:, 3:], training=False))[real], full[:, 3:][real], atol=1e-5)
    parts = sequence_parts(model)
    by_parts = np.asarray(parts["last_state"](x)) @ np.asarray(parts["items"].embeddings).T
    np.testing.assert_allclose(by_parts, full[:, -1], atol=1e-5)


def test_save_load_gives_identical_outputs_and_catalogue_scores(tmp_path, tiny_config):
    config = tiny_config("sasrec")
    model = kzoo.build_from_config(config)
    x, y = kzoo.example_batch(config, batch_size=16)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "sasrec.keras")
    loaded = kzoo.load_model(tmp_path / "sasrec.keras")
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)))
    np.testing.assert_array_equal(np.asarray(sequence_parts(loaded)["last_state"](x)),
                                  np.asarray(sequence_parts(model)["last_state"](x)))


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    """A tiny sasrec run on the chain data (with titles), exported."""
    root = tmp_path_factory.mktemp("sasrec")
    path = chain_ratings(root / "chain")
    output = root / "run"
    metrics = train("sasrec", tiny=True, data=str(path), output=str(output), verbose=0, epochs=3,
                    overrides=["model.hidden_size=16", f"data.max_length={LENGTH}", "train.batch_size=32",
                               "train.learning_rate=0.01", "data.eval_negatives=5"])  # sampled != full ranking
    return output, metrics


def signatures(run):
    return tf.saved_model.load(str(run / "export" / "1")).signatures


def recommend_by_hand(model, maps: SequenceIdMaps, history, k):
    """Top-k raw item ids and scores for one raw history: the Keras model on the right-aligned window."""
    index = maps.map_items(history)
    known = index[index > 0]
    window = np.zeros((1, maps.max_length), np.int32)
    recent = known[-maps.max_length:]
    window[0, maps.max_length - recent.size:] = recent
    logits = np.asarray(model(window, training=False))[0, -1].astype(np.float64)
    logits[0] = -np.inf
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    logits[known] = -np.inf
    top = np.argsort(-logits, kind="stable")[:k]
    return maps.raw_items(top), probabilities[top]


def test_recommend_from_history_is_the_keras_model_scoring_every_item(chain_run):
    run, _ = chain_run
    model, maps = RunDir(run).load_model(), RunDir(run).preprocessor()
    served = signatures(run)
    histories = [[3, 17, 22, 5], [8, 999_999, 12, HISTORY_PADDING], [30, HISTORY_PADDING, HISTORY_PADDING, 1]]
    out = served["recommend_from_history"](item_ids=tf.constant(histories, tf.int64), k=tf.constant(6))
    for row, history in enumerate(histories):
        items, scores = recommend_by_hand(model, maps, [i for i in history if i != HISTORY_PADDING], 6)
        np.testing.assert_array_equal(out["item_ids"].numpy()[row], items)
        np.testing.assert_allclose(out["scores"].numpy()[row], scores, rtol=1e-4, atol=1e-6)
    assert out["unknown_items"].numpy().tolist() == [0, 1, 0] and not out["fallback"].numpy().any()
    default = served["serving_default"](item_ids=tf.constant(histories, tf.int64), k=tf.constant(6))
    np.testing.assert_array_equal(default["item_ids"].numpy(), out["item_ids"].numpy())


def test_seen_items_never_come_back(chain_run):
    run, _ = chain_run
    maps, served = RunDir(run).preprocessor(), signatures(run)
    users = maps.user_ids
    out = served["recommend"](user_id=tf.constant(users, tf.int64), k=tf.constant(NUM_ITEMS))
    for row, user in enumerate(users):
        seen = set(maps.raw_items(maps.seen.of(row + 1)).tolist())
        recommended = set(out["item_ids"].numpy()[row].tolist()) - {-1}
        assert recommended and not recommended & seen
        assert recommended | seen == set(maps.item_ids.tolist())  # everything else is there
    history = tf.constant([maps.item_ids[:12]], tf.int64)
    out = served["recommend_from_history"](item_ids=history, k=tf.constant(NUM_ITEMS))
    assert not set(out["item_ids"].numpy()[0].tolist()) & set(maps.item_ids[:12].tolist())
    kept = served["recommend_including_seen"](user_id=tf.constant(users[:1], tf.int64), k=tf.constant(NUM_ITEMS))
    assert set(maps.raw_items(maps.seen.of(1)).tolist()) <= set(kept["item_ids"].numpy()[0].tolist())


def test_an_empty_or_unknown_history_gets_the_most_popular_items(chain_run):
    run, _ = chain_run
    maps, served = RunDir(run).preprocessor(), signatures(run)
    popularity = maps.seen.popularity(maps.num_items)[1:]
    order = np.argsort(-popularity, kind="stable")[:5]
    popular, share = maps.item_ids[order], popularity[order] / maps.num_users
    rows = tf.constant([[HISTORY_PADDING, HISTORY_PADDING], [123_456, HISTORY_PADDING], [777, 778]], tf.int64)
    out = served["recommend_from_history"](item_ids=rows, k=tf.constant(5))
    assert out["fallback"].numpy().tolist() == [True, True, True]
    assert out["unknown_items"].numpy().tolist() == [0, 1, 2]
    for row in range(3):
        np.testing.assert_array_equal(out["item_ids"].numpy()[row], popular)
        np.testing.assert_allclose(out["scores"].numpy()[row], share, rtol=1e-6)
    empty = served["recommend_from_history"](item_ids=tf.zeros([2, 0], tf.int64), k=tf.constant(5))
    assert empty["fallback"].numpy().tolist() == [True, True]
    stranger = served["recommend"](user_id=tf.constant([10**9], tf.int64), k=tf.constant(5))
    assert stranger["fallback"].numpy().tolist() == [True]
    np.testing.assert_array_equal(stranger["item_ids"].numpy()[0], popular)


def test_the_saved_model_signatures_answer_with_the_documented_shapes(chain_run):
    run, _ = chain_run
    served = signatures(run)
    assert set(served) == {"serving_default", "recommend_from_history", "recommend", "recommend_including_seen"}
    inputs = served["recommend_from_history"].structured_input_signature[1]
    assert inputs["item_ids"].shape.as_list() == [None, None] and inputs["item_ids"].dtype == tf.int64
    assert inputs["k"].shape.rank == 0 and inputs["k"].dtype == tf.int32
    users = RunDir(run).preprocessor().user_ids
    out = served["recommend"](user_id=tf.constant([users[0], users[-1], 10**9], tf.int64), k=tf.constant(3))
    assert out["item_ids"].shape == (3, 3) and out["scores"].dtype == tf.float32
    assert out["fallback"].numpy().tolist() == [False, False, True]
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 0"):
        served["recommend"](user_id=tf.constant([1], tf.int64), k=tf.constant(-1))


def test_the_test_reports_both_ranking_protocols_by_the_recommenders_code(chain_run):
    run, metrics = chain_run
    assert set(metrics["test"]) == {"hr@10", "ndcg@10", "full_recall@10", "full_ndcg@10"}
    assert metrics["test"]["hr@10"] > metrics["test"]["full_recall@10"]  # 5 sampled candidates against ~30 unrated
    config = RunDir(run).config()
    bundle = load_data(config, source=config.data_source["name"], seed=config.runtime.seed,
                       preprocessor=RunDir(run).preprocessor())
    model = RunDir(run).load_model()
    full = RankingEvaluator(bundle.evaluate.data, bundle.evaluate.candidates, 10, True, score=bundle.evaluate.score)
    assert full(model, "test") == {"hr@10": metrics["test"]["full_recall@10"],
                                   "ndcg@10": metrics["test"]["full_ndcg@10"]}
    sampled = RankingEvaluator(bundle.evaluate.data, bundle.evaluate.candidates, 10, False, score=bundle.evaluate.score)
    assert sampled(model, "test") == {"hr@10": metrics["test"]["hr@10"], "ndcg@10": metrics["test"]["ndcg@10"]}


def test_predict_answers_a_history_with_titles(chain_run):
    run, _ = chain_run
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "predict.py"), str(run / "export"),
                           "--history", "3", "17", "424242", "--history", "5", "--history", "--k", "3"],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["predictions"]
    assert rows[0]["history"] == [3, 17, 424242] and rows[0]["unknown_items"] == 1 and not rows[0]["fallback"]
    assert rows[1]["history"] == [5] and 5 not in rows[1]["item_ids"] and not rows[1]["fallback"]
    assert rows[2]["history"] == [] and rows[2]["fallback"] and len(rows[2]["item_ids"]) == 3
    assert all(title == f"Film {i} (1995)" for row in rows for i, title in zip(row["item_ids"], row["titles"]))


@pytest.mark.parametrize("runtime", ["litert", "onnx"])
def test_the_tensor_only_export_converts_and_ranks_as_the_saved_model(chain_run, runtime, tmp_path):
    """LiteRT / ONNX: the last position's logits; left out the history's items and topped, the SavedModel's answer."""
    from kzoo.runtimes import export_runtime, to_litert, to_onnx

    run, _ = chain_run
    folder = export_runtime(run, runtime, output=tmp_path)
    info = json.loads((folder / "kzoo.json").read_text())
    assert info["signature"]["inputs"]["item_index"] == ["int32", [-1, LENGTH]]
    assert info["parity"]["max_abs_diff"]["logits"] <= info["parity"]["tolerance"]
    maps = RunDir(run).preprocessor()
    histories = np.array([[3, 17, 22, 5], [8, 999_999, 12, HISTORY_PADDING]], np.int64)
    windows, unknown = maps.history_indices(histories)
    assert unknown.tolist() == [0, 1]
    runner = {"litert": to_litert.load, "onnx": to_onnx.load}[runtime]((folder / info["file"]).read_bytes())
    logits = runner({"item_index": windows})["logits"]
    served = signatures(run)["recommend_from_history"](item_ids=tf.constant(histories), k=tf.constant(5))
    for row, history in enumerate(histories):
        scores = logits[row].astype(np.float64)
        scores[0] = -np.inf
        scores[maps.map_items(history[history != HISTORY_PADDING])] = -np.inf  # unknown ids map to 0: left out anyway
        top = np.argsort(-scores, kind="stable")[:5]
        np.testing.assert_array_equal(maps.raw_items(top), served["item_ids"].numpy()[row])
