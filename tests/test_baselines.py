"""Hand-written baselines (kzoo/bench/baselines/) and the `--vs-baseline` plumbing, on tiny synthetic arrays."""

import numpy as np
import pytest

from kzoo.bench import baselines, vs_baseline


def _text_arrays(n=16, length=12, vocab=50, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (n + 8, length)).astype("int32")
    ids[:, length // 2:] = 0  # trailing padding, as TextVectorization leaves it
    labels = rng.integers(0, 2, n + 8)
    return {"x_train": ids[:n], "y_train": labels[:n], "x_test": ids[n:], "y_test": labels[n:],
            "model_kwargs": {"vocab_size": vocab}}


def _ratings_arrays(users=12, items=120, per_user=6, seed=0):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(1, users + 1), per_user).astype(np.int32)
    i = np.concatenate([rng.choice(np.arange(1, items + 1), per_user, replace=False) for _ in range(users)]).astype(np.int32)
    return vs_baseline.load_baseline("neumf").split_ratings(u, i, rng.integers(0, 1000, u.size))


@pytest.mark.parametrize("name", ["lstm", "transformer_cls"])
def test_text_baseline_builds_and_fits_one_step(name):
    base = vs_baseline.load_baseline(name)
    result = base.train_and_evaluate(_text_arrays(), epochs=1, seed=0)
    assert result["model"] == name and result["batch_size"] == 64 and result["epochs"] == 1
    assert 0.0 <= result["metric_value"] <= 1.0 and result["examples_per_sec"] > 0


def test_neumf_baseline_protocol_and_one_epoch():
    base = vs_baseline.load_baseline("neumf")
    arrays = _ratings_arrays()
    assert len(arrays["test_users"]) == 12 and arrays["test_negatives"].shape[0] == 12
    x, y = base.epoch_data(arrays, 0, 0)
    assert y.sum() == len(arrays["train_users"]) and len(y) == 5 * len(arrays["train_users"])
    negative_keys = x["user_id"][y == 0].astype(np.int64) * (arrays["model_kwargs"]["num_items"] + 1) + x["item_id"][y == 0]
    assert not np.isin(negative_keys, arrays["rated_keys"]).any()  # negatives are unrated items
    result = base.train_and_evaluate(arrays, epochs=1, seed=0)
    assert set(result["test"]) == {"hr@10", "ndcg@10"} and result["metric"] == "hr@10"


def test_baselines_do_not_import_kzoo():
    import ast
    from pathlib import Path

    for path in Path(baselines.__file__).parent.glob("*.py"):
        tree = ast.parse(Path(path).read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any(m.split(".")[0] == "kzoo" for m in names), path


def test_baselines_import_nothing_of_kzoo_beyond_their_folder():
    import ast
    from pathlib import Path

    paths = sorted(Path(baselines.__file__).parent.glob("*.py"))
    assert {p.stem for p in paths} >= {"__init__", "_shared", *vs_baseline.BASELINES}
    for path in paths:
        tree = ast.parse(path.read_text())
        relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert all(n.level == 1 for n in relative), path  # `from ._shared import ...`, never `from .. import`
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level]
        assert not any(m.split(".")[0] in ("kzoo", "benchmarks", "tools") for m in names), path


TINY_LSTM = ["data.sequence_length=12", "model.vocab_size=50", "model.embedding_dim=8", "model.units=8",
             "data.synthetic_size=200", "train.batch_size=64"]


def test_vs_baseline_records_on_synthetic_data():
    arrays = _text_arrays(n=200)
    record = vs_baseline.throughput("lstm", None, warmup=1, steps=1, rounds=1, data="synthetic",
                                    overrides=TINY_LSTM, baseline_arrays=arrays)
    assert record["comparison"] == "throughput" and record["batch_size"] == 64 and record["timed_steps"] == 1
    assert record["ratio_kzoo_over_baseline"] > 0 and record["median_round_ratio"] > 0
    assert len(record["baseline_examples_per_sec"]) == len(record["kzoo_examples_per_sec"]) == 1
    record = vs_baseline.time_to_metric("lstm", None, epochs=1, data="synthetic", overrides=TINY_LSTM,
                                        baseline_arrays=arrays)
    assert record["comparison"] == "time_to_baseline_metric" and record["metric"] == "accuracy"
    assert [r["epoch"] for r in record["kzoo"]["per_epoch"]] == [1]
    assert record["baseline"]["total_seconds"] > 0
    reached = record["kzoo_seconds_to_baseline_metric"]
    assert (reached is None) == (record["ratio_kzoo_over_baseline"] is None)


def test_step_window_needs_enough_steps():
    window = vs_baseline.StepWindow(warmup=5, steps=10)
    with pytest.raises(RuntimeError, match="fewer steps"):
        window.examples_per_sec(64)


def test_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="no hand-written baseline"):
        vs_baseline.load_baseline("cnn")
