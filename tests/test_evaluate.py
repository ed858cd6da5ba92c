import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent


def evaluate_in_process(capsys, *args) -> dict:
    """`tools/evaluate.py ARGS` run through its `kzoo.cli.evaluate.main` here (no interpreter start): its JSON."""
    from kzoo.cli import evaluate

    assert evaluate.main(list(args)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def evaluate_tool(*args, env=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "evaluate.py"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    metrics = train("lstm", tiny=True, data="synthetic", epochs=2, seed=3, output=str(out), verbose=0)
    return out, metrics


def test_evaluate_reproduces_the_runs_test_metrics(lstm_run):
    out, metrics = lstm_run
    result = evaluate_tool(str(out), "--data", "synthetic")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == "lstm" and report["split"] == "test"
    assert report["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert report["metrics"]["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-5)


def test_evaluate_accepts_the_export_inside_a_run(lstm_run):
    out, metrics = lstm_run
    export = next((out / "export").iterdir())
    result = evaluate_tool(str(export), "--data", "synthetic", "--split", "val")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["split"] == "val"


def test_evaluate_bad_input_exits_2(lstm_run, tmp_path):
    out, _ = lstm_run
    bad_split = evaluate_tool(str(out), "--data", "synthetic", "--split", "dev")
    assert bad_split.returncode == 2 and "unknown split 'dev'" in bad_split.stderr
    not_a_run = evaluate_tool(str(tmp_path))
    assert not_a_run.returncode == 2 and "not a finished run directory" in not_a_run.stderr


# ---------------------------------------------------------------- the run's own data, or a refusal


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    rows = "".join(f"review {i} was {'great fun' if i % 2 else 'awful and dull'},{i % 2}\n" for i in range(60))
    (folder / "reviews.csv").write_text("text,label\n" + rows, encoding="utf-8")
    out = folder / "run"
    metrics = train("lstm", tiny=True, data=str(folder / "reviews.csv"), seed=1, output=str(out), verbose=0)
    return out, metrics, folder / "reviews.csv"


def _report(result):
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _one_line_error(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.stderr.strip().splitlines()[-1]


def test_evaluate_reuses_the_files_the_run_trained_on(csv_run):
    out, metrics, csv = csv_run
    report = _report(evaluate_tool(str(out)))  # no --data: the run's own reviews.csv, not synthetic data
    assert report["data"]["source"] == "files" and report["data"]["name"] == str(csv)
    assert report["trained_on"] == {"kind": "files", "name": str(csv)} and report["same_data"] is True
    assert report["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)


def test_evaluate_refuses_other_data_unless_allowed(csv_run):
    out, _, csv = csv_run
    line = _one_line_error(evaluate_tool(str(out), "--data", "synthetic"))
    assert line.startswith("error: this run trained on files") and str(csv) in line and "--allow-other-data" in line
    allowed = evaluate_tool(str(out), "--data", "synthetic", "--allow-other-data")
    report = _report(allowed)
    assert report["data"]["source"] == "synthetic" and report["same_data"] is False
    assert report["trained_on"]["kind"] == "files"
    assert "not the data the run trained on" in allowed.stderr  # said out loud, not only in the JSON


def test_evaluate_of_a_synthetic_run_says_synthetic(lstm_run):
    out, metrics = lstm_run
    result = evaluate_tool(str(out))
    report = _report(result)
    assert report["data"]["source"] == "synthetic" and report["same_data"] is True
    assert "SYNTHETIC" in result.stderr
    assert report["metrics"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)


def _copy_with_source(run, tmp_path, data_source):
    import shutil

    import yaml

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["data_source"] = data_source
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def test_evaluate_of_a_tfds_run_without_its_data_refuses(lstm_run, tmp_path):
    copy = _copy_with_source(lstm_run[0], tmp_path, {"kind": "tfds", "name": "imdb_reviews"})
    empty = tmp_path / "no_tfds_here"
    empty.mkdir()
    line = _one_line_error(evaluate_tool(str(copy), env={"TFDS_DATA_DIR": str(empty)}))
    assert f"tfds 'imdb_reviews', which is not prepared in {empty}" in line and "pass --data-dir DIR" in line


def test_evaluate_refuses_when_the_runs_files_are_gone(lstm_run, tmp_path):
    from kzoo.data import DataError
    from kzoo.training import evaluate_run

    gone = str(tmp_path / "moved.csv")
    copy = _copy_with_source(lstm_run[0], tmp_path, {"kind": "files", "name": gone})
    with pytest.raises(DataError, match=f"trained on the files '{gone}', which no longer exist.*--allow-other-data"):
        evaluate_run(str(copy))


def test_evaluate_reproduces_a_refit_recommenders_ranking_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    small = ["data.synthetic_users=40", "data.synthetic_items=60", "data.synthetic_per_user=10", "train.batch_size=64"]
    metrics = train("gmf", tiny=True, data="synthetic", epochs=2, output=str(out), export=False, verbose=0,
                    overrides=["train.jit_compile=false", *small])
    assert metrics["refit"] is not None  # the tested model.keras is the refit one, not best.keras
    capsys.readouterr()
    report = evaluate_in_process(capsys, str(out), "--data", "synthetic")
    assert report["model"] == "gmf" and set(report["metrics"]) == {"hr@10", "ndcg@10"}
    assert report["metrics"] == pytest.approx(metrics["test"], abs=1e-9)


@pytest.mark.slow  # a translator run traces its decoder (about a minute on 2 cores)
def test_evaluate_reproduces_a_translators_bleu(tmp_path, capsys):
    import sacrebleu
    import tensorflow as tf

    from kzoo.data.synthetic import synthetic_pairs

    pairs = synthetic_pairs({"train": 160, "val": 16, "test_2016_flickr": 16}, seed=5)
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for split, (de, en) in pairs.items():
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    metrics = train("transformer_seq2seq", tiny=True, data=str(folder), epochs=1, output=str(out), verbose=0)
    capsys.readouterr()
    report = evaluate_in_process(capsys, str(out), "--data", str(folder))
    assert set(report["metrics"]) == {"loss", "accuracy", "bleu", "bleu_examples"}
    assert report["metrics"] == pytest.approx(metrics["test"], rel=1e-5, abs=1e-9)
    # The recorded BLEU is corpus BLEU of the run's own translations (served by its export) against the references.
    sources, references = pairs["test_2016_flickr"]
    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"](text=tf.constant(sources))
    translations = [t.decode("utf-8") for t in served["translation"].numpy()]
    assert metrics["test"]["bleu_examples"] == len(references) == 16
    assert metrics["test"]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(translations, [list(references)]).score)
    assert metrics["test"]["bleu"] > 0  # some words right after one epoch: the comparison is not 0 == 0
