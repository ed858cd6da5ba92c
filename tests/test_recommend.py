"""The exported `recommend` signature: seen items left out, retrieval == full scoring, two-stage
re-ranking, the unknown-user fallback, k clipping, titles in tools/predict.py."""

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data.movielens import read_item_titles, read_ratings_file
from kzoo.data.recommender import IdMaps, SeenItems, load_recommender_data
from kzoo.export import export_model
from kzoo.signatures.recommender import scoring_mode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _runs import tiny_config as shared_tiny_config  # noqa: E402

USERS, ITEMS = 12, 40


def tiny_config(name, **overrides):
    # The shared tiny config, sized to this module's id maps.
    return shared_tiny_config(name, {"model.num_users": USERS, "model.num_items": ITEMS, **overrides})


def id_maps():
    """Raw ids 1000, 1003, ... / 5, 12, ...; user index u has seen 2u items (user 12: 24 of 40)."""
    rng = np.random.default_rng(1)
    users = np.concatenate([np.full(2 * u, u) for u in range(1, USERS + 1)])
    items = np.concatenate([rng.choice(np.arange(1, ITEMS + 1), 2 * u, replace=False) for u in range(1, USERS + 1)])
    titles = {int(i) * 7 + 5: f"Film {i}" for i in range(ITEMS)}
    return IdMaps(np.arange(USERS) * 3 + 1000, np.arange(ITEMS) * 7 + 5, SeenItems.from_pairs(users, items, USERS),
                  titles)


def export(name, tmp_path_factory, **overrides):
    config = tiny_config(name, **overrides)
    model = kzoo.build_from_config(config, compile=False)
    rng = np.random.default_rng(3)  # spread-out scores: no ties in the top-k comparisons
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    path = export_model(model, config, id_maps(), tmp_path_factory.mktemp(name) / "export")
    return model, config, tf.saved_model.load(str(path)), path


@pytest.fixture(scope="module")
def gmf(tmp_path_factory):
    return export("gmf", tmp_path_factory)


@pytest.fixture(scope="module")
def gmf_full(tmp_path_factory):
    return export("gmf", tmp_path_factory, **{"data.retrieval": False})


@pytest.fixture(scope="module")
def neumf(tmp_path_factory):
    return export("neumf", tmp_path_factory, **{"data.rerank_candidates": 15})


def recommend(served, users, k, signature="recommend"):
    out = served.signatures[signature](user_id=tf.constant(users, tf.int64), k=tf.constant(k, tf.int32))
    return {name: value.numpy() for name, value in out.items()}


def full_scores(model, user_index):
    """The Keras model's sigmoid scores of user index `user_index` against item indices 1..N."""
    x = {"user_id": np.full(ITEMS, user_index, np.int32), "item_id": np.arange(1, ITEMS + 1, dtype=np.int32)}
    return tf.sigmoid(model(x, training=False)).numpy().reshape(-1)


def test_modes_follow_the_model_and_the_config(gmf, gmf_full, neumf):
    assert scoring_mode(gmf[0], gmf[1]["data"])[0] == "retrieval"
    assert scoring_mode(gmf_full[0], gmf_full[1]["data"])[0] == "full"
    assert scoring_mode(neumf[0], neumf[1]["data"])[0] == "rerank"
    assert scoring_mode(neumf[0], {})[0] == "full"
    mlp = kzoo.build_from_config(tiny_config("ncf_mlp"), compile=False)
    assert scoring_mode(mlp, {"rerank_candidates": 5})[0] == "full"  # no GMF path to retrieve with


@pytest.mark.parametrize("which", ["gmf", "gmf_full", "neumf"])
def test_rated_items_never_appear_in_recommendations(request, which):
    _, _, served, _ = request.getfixturevalue(which)
    maps = id_maps()
    raw_users = maps.user_ids.tolist()
    out = recommend(served, raw_users, ITEMS)
    for row, user in enumerate(raw_users):
        seen_raw = set(maps.item_ids[maps.seen.of(row + 1) - 1].tolist())
        got = [i for i in out["item_ids"][row].tolist() if i != -1]
        assert got and not seen_raw & set(got)
        if which != "neumf":  # full and retrieval: every unseen item, once
            assert sorted(got) == sorted(set(maps.item_ids.tolist()) - seen_raw)
    with_seen = recommend(served, raw_users[-1:], ITEMS, "recommend_including_seen")["item_ids"][0].tolist()
    seen_raw = set(maps.item_ids[maps.seen.of(USERS) - 1].tolist())
    assert seen_raw <= set(with_seen) if which != "neumf" else seen_raw & set(with_seen)


def test_retrieval_returns_the_full_scoring_top_k_for_gmf(gmf, gmf_full):
    model, _, retrieved, _ = gmf
    maps = id_maps()
    users = maps.user_ids.tolist()
    a, b = recommend(retrieved, users, 10, "recommend_including_seen"), recommend(gmf_full[2], users, 10,
                                                                                 "recommend_including_seen")
    np.testing.assert_array_equal(a["item_ids"], b["item_ids"])
    np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)
    for row in range(USERS):  # and both are what the Keras model ranks first
        grid = full_scores(model, row + 1)
        best = np.argsort(-grid, kind="stable")[:10]
        np.testing.assert_array_equal(a["item_ids"][row], maps.item_ids[best])
        np.testing.assert_allclose(a["scores"][row], grid[best], atol=1e-5)
    a, b = recommend(retrieved, users, 10), recommend(gmf_full[2], users, 10)
    np.testing.assert_array_equal(a["item_ids"], b["item_ids"])


def test_two_stage_re_ranks_what_the_gmf_path_retrieves(neumf, tmp_path_factory):
    model, _, served, _ = neumf
    maps = id_maps()
    out = recommend(served, maps.user_ids[:1], 100, "recommend_including_seen")
    assert out["item_ids"].shape == (1, 15)  # at most the 15 retrieved candidates
    grid = full_scores(model, 1)
    np.testing.assert_allclose(out["scores"][0], grid[maps.map_items(out["item_ids"][0]) - 1], atol=1e-5)
    assert np.all(np.diff(out["scores"][0]) <= 0)  # re-ranked by the full model
    everything = export("neumf", tmp_path_factory, **{"data.rerank_candidates": ITEMS})[2]
    full = export("neumf", tmp_path_factory)[2]
    users = maps.user_ids.tolist()  # retrieving every item re-ranks exactly like full scoring
    np.testing.assert_array_equal(recommend(everything, users, 10)["item_ids"], recommend(full, users, 10)["item_ids"])


def test_unknown_user_gets_the_most_popular_items(gmf):
    maps = id_maps()
    out = recommend(gmf[2], [424242, 1000], 5)
    assert out["fallback"].tolist() == [True, False]
    popularity = maps.seen.popularity(ITEMS)[1:]
    order = np.argsort(-popularity, kind="stable")[:5]
    np.testing.assert_array_equal(out["item_ids"][0], maps.item_ids[order])
    np.testing.assert_allclose(out["scores"][0], popularity[order] / USERS)


def test_k_is_clipped_to_the_candidates_and_negative_k_refused(gmf):
    served, maps = gmf[2], id_maps()
    last = maps.user_ids[-1:].tolist()  # user index 12 has seen 24 of 40 items: 16 candidates
    assert recommend(gmf[2], last, 1000)["item_ids"].shape == (1, ITEMS - 2 * USERS)
    assert recommend(gmf[2], last, 1000, "recommend_including_seen")["item_ids"].shape == (1, ITEMS)
    both = recommend(served, [maps.user_ids[0], last[0]], 1000)  # 38 and 16 candidates: the short row is padded
    assert both["item_ids"].shape == (2, ITEMS - 2)
    assert (both["item_ids"][1] == -1).sum() == ITEMS - 2 - 16 and (both["scores"][1][16:] == 0).all()
    assert recommend(served, last, 0)["item_ids"].shape == (1, 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 0"):
        recommend(served, last, -1)


def test_id_maps_keep_seen_items_and_titles(tmp_path):
    maps = id_maps()
    maps.save(tmp_path)
    loaded = IdMaps.load(tmp_path)
    np.testing.assert_array_equal(loaded.seen.splits, maps.seen.splits)
    np.testing.assert_array_equal(loaded.seen.items, maps.seen.items)
    assert loaded.item_titles == maps.item_titles
    (tmp_path / SeenItems.FILE).unlink()
    (tmp_path / IdMaps.TITLE_FILE).unlink()
    old = IdMaps.load(tmp_path)  # a run made before seen items were kept
    assert old.seen is None and old.item_titles is None


def test_loader_keeps_every_rating_as_seen_and_reads_titles(tmp_path):
    rows = [(1, 10, 4, 100), (1, 20, 3, 300), (1, 30, 5, 400), (2, 10, 5, 100), (2, 40, 4, 500)]
    (tmp_path / "u.data").write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    (tmp_path / "u.item").write_bytes("10|Caf\xe9 (1995)|x\n20|B|x\n".encode("latin-1"))
    bundle = load_recommender_data(kzoo.get_config("gmf"), str(tmp_path))
    maps = bundle.preprocessor
    assert maps.raw_items(maps.seen.of(1)).tolist() == [10, 20, 30]  # the held-out item 30 too
    assert maps.item_titles == {10: "Café (1995)", 20: "B"}
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation\n2::Jumanji (1995)::Adventure\n")
    assert read_item_titles(tmp_path / "ratings.dat") == {1: "Toy Story (1995)", 2: "Jumanji (1995)"}
    assert read_ratings_file(tmp_path).titles == {10: "Café (1995)", 20: "B"}


def test_predict_tool_shows_titles_and_leaves_out_seen_items(gmf, monkeypatch, capsys):
    maps = id_maps()

    def predict(*argv):
        monkeypatch.setattr(sys, "argv", ["predict.py", str(gmf[3]), *argv])
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(ROOT / "tools" / "predict.py"), run_name="__main__")
        out, err = capsys.readouterr()
        return done.value.code, out, err

    code, out, _ = predict("--user-id", str(maps.user_ids[-1]), "--k", "100")
    row = json.loads(out)["predictions"][0]
    assert code == 0 and len(row["item_ids"]) == ITEMS - 2 * USERS  # clipped, no padding
    assert row["titles"] == [maps.item_titles[i] for i in row["item_ids"]]
    assert not set(row["item_ids"]) & set(maps.raw_items(maps.seen.of(USERS)).tolist())
    code, out, _ = predict("--user-id", str(maps.user_ids[-1]), "--k", "100", "--include-seen")
    assert code == 0 and len(json.loads(out)["predictions"][0]["item_ids"]) == ITEMS
    code, _, err = predict("--user-id", "1000", "--include-seen")
    assert code == 2 and err.startswith("error: --include-seen") and "Traceback" not in err
