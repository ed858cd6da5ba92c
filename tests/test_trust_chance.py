"""Trustworthy runs: a model no better than chance gets a warning, a flag in metrics.json and a card line."""

import sys
from pathlib import Path

import numpy as np

from kzoo.run_dir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trust import finished_run, run_cli  # noqa: E402,F401  (finished_run: a module-scoped fixture)


def test_a_model_no_better_than_chance_gets_a_warning_a_flag_and_a_card_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), "--no-export",
                               "--set", "train.learning_rate=1e-9"], capsys)  # the weights barely move
    assert code == 0
    warnings = [line for line in stdout.splitlines() if "no better than chance" in line]
    assert len(warnings) == 1 and "always predicting the most frequent class" in warnings[0], stdout
    record = RunDir(out).metrics()
    assert record["no_better_than_chance"] is True
    chance = record["chance"]
    assert chance["metric"] == "val_accuracy" and chance["best"] <= chance["chance"] + chance["margin"]
    assert 0.1 <= chance["chance"] < 0.2 and chance["examples"] == record["data"]["sizes"]["val"]  # 10 classes
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.count("NO BETTER THAN CHANCE") == 2  # under the title and in the limitations


def test_a_model_that_learned_is_not_flagged(finished_run):
    record = RunDir(finished_run).metrics()
    assert record["no_better_than_chance"] is False
    assert record["chance"]["best"] > record["chance"]["chance"] + record["chance"]["margin"]
    assert "NO BETTER THAN CHANCE" not in (finished_run / "README.md").read_text(encoding="utf-8")


def test_a_random_ranking_hits_k_of_each_users_candidates():
    from kzoo.data.recommender.evaluation import RankingEvaluator

    valid = np.array([[True] * 100, [True] * 5 + [False] * 95, [True] * 25 + [False] * 75])  # 99, 4, 24 negatives
    evaluator = RankingEvaluator(None, {"val": (np.array([1, 2, 3]), np.zeros((3, 100)), valid)}, 10, False)
    np.testing.assert_allclose(evaluator.random_hit_rates("val"), [10 / 100, 1.0, 10 / 25])
