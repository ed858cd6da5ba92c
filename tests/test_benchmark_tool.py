"""`tools/benchmark.py`: accuracy mode end to end on synthetic data (one tiny run in a child process), step
speed, and `--serving` (every input checked before timing, each record written as soon as it exists)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_first_seed_adds_seeds_to_an_earlier_run(tmp_path):
    out = tmp_path / "records.jsonl"
    cmd = [sys.executable, str(ROOT / "tools" / "benchmark.py"), "--model", "mlp", "--data", "synthetic",
           "--first-seed", "2", "--seeds", "1", "--json", str(out),
           "--set", "model.hidden_units=[16,8]", "--set", "data.synthetic_size=256",
           "--set", "train.epochs=1", "--set", "train.refit=false"]
    env = dict(os.environ, TMPDIR=str(tmp_path))  # the run directory goes under tmp_path
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300, env=env)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    runs = [r for r in records if "seed" in r]
    assert [r["seed"] for r in runs] == [2]
    assert runs[0]["exit_code"] == 0, runs[0].get("error")
    assert "--seed 2" in runs[0]["command"]
    assert runs[0]["run_dir"].startswith(str(tmp_path))
    metrics = json.loads(open(runs[0]["run_dir"] + "/metrics.json").read())
    assert metrics["seed"] == 2
    summary = records[-1]["summary"]
    assert summary["runs"] == 1 and summary["ok"] == 1 and summary["accuracy"]["values"] == [metrics["test"]["accuracy"]]
    assert summary["accuracy"]["mean"] == metrics["test"]["accuracy"] and summary["accuracy"]["std"] == 0


def test_speed_record_reports_the_compile_settings_the_config_applied():
    from kzoo.bench.runs import speed_run

    record = speed_run("gmf", batch_size=8, warmup=1, steps=4,
                       overrides=["train.jit_compile=true", "train.steps_per_execution=2"])
    assert record["jit_compile"] is True and record["steps_per_execution"] == 2
    assert record["samples_per_sec"] > 0 and record["ms_per_step"] > 0
    plain = speed_run("mlp", batch_size=8, warmup=1, steps=2)  # mlp's config keeps both off
    assert plain["jit_compile"] is False and plain["steps_per_execution"] == 1


def test_pipeline_ab_times_both_sides_in_alternation(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks.pipeline_ab import compare

    record = compare("mlp", [], ["train.steps_per_execution=2"], None, warmup=2, steps=4, rounds=2,
                     data="synthetic")
    assert len(record["a_examples_per_sec"]) == len(record["b_examples_per_sec"]) == 2
    assert all(v > 0 for v in record["a_examples_per_sec"] + record["b_examples_per_sec"])
    assert record["ratio_b_over_a"] > 0 and record["b"] == ["train.steps_per_execution=2"]


# ---------------------------------------------------------------- --serving: inputs checked first, records kept


@pytest.fixture(scope="module")
def lstm_export(tmp_path_factory, tiny_config):
    """A tiny untrained `lstm` SavedModel with a fitted vocabulary (seconds, no training)."""
    import keras
    import tensorflow as tf

    import kzoo
    from kzoo.data.text_preprocessing import TextPreprocessor
    from kzoo.export import export_model

    keras.utils.set_random_seed(0)
    texts = ["a great film", "an awful film", "great music", "dull plot"]
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(texts), 12, 50, class_names=["neg", "pos"])
    config = tiny_config("lstm", **{"model.vocab_size": fitted.vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    return str(export_model(model, config, fitted, tmp_path_factory.mktemp("lstm") / "export"))


def test_serving_with_a_bad_eval_data_dir_fails_in_one_line_before_measuring(lstm_export, tmp_path):
    bad, out = tmp_path / "not_tfds", tmp_path / "records.jsonl"
    bad.mkdir()
    cmd = [sys.executable, str(ROOT / "tools" / "benchmark.py"), "--serving", lstm_export,
           "--eval-data-dir", str(bad), "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: --eval-data-dir {bad}: the tfds dataset 'imdb_reviews'")
    assert "tfds.load('imdb_reviews'" in line  # says how to prepare it
    assert "batch1_p50_ms" not in result.stdout and not (out.exists() and out.read_text())  # nothing was timed


def test_serving_checks_every_export_before_timing_any(lstm_export, tmp_path, monkeypatch):
    from kzoo.bench import runs
    from kzoo.cli import benchmark
    from kzoo.signatures import ExportError

    timed = []
    monkeypatch.setattr(runs, "serving_run", lambda export_dir, *a, **k: timed.append(export_dir) or {})
    with pytest.raises(SystemExit) as exit_info:  # a missing folder: refused with the arguments, before TensorFlow
        benchmark.main(["--serving", lstm_export, "--serving", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    (tmp_path / "versions" / "3").mkdir(parents=True)
    (tmp_path / "versions" / "3" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ExportError, match=r"no saved_model.pb\); name a version folder, e.g. .*versions/3"):
        benchmark.main(["--serving", lstm_export, "--serving", str(tmp_path / "versions")])
    assert timed == []


def test_serving_latency_is_written_before_the_evaluation(lstm_export, tmp_path, monkeypatch):
    from kzoo import serving_eval
    from kzoo.bench import runs
    from kzoo.cli import benchmark
    from kzoo.data import DataError

    out = tmp_path / "records.jsonl"
    # The inputs pass their check; the evaluation itself then fails (a disk gone, a Ctrl-C, ...).
    monkeypatch.setattr(runs, "check_serving_inputs", lambda dirs, data_dir: {d: {"source": "tfds"} for d in dirs},
                        raising=False)

    def failing_evaluation(*args, **kwargs):
        raise DataError("the data went away")

    monkeypatch.setattr(serving_eval, "evaluate_export", failing_evaluation)
    with pytest.raises(DataError, match="went away"):
        benchmark.main(["--serving", lstm_export, "--eval-data-dir", str(tmp_path), "--json", str(out)])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1 and records[0]["export"] == lstm_export and records[0]["batch1_p50_ms"] > 0


@pytest.mark.slow
def test_serving_eval_data_is_checked_on_one_real_example(lstm_export, shared_datasets):
    from kzoo.bench.runs import check_serving_inputs

    tfds_dir = str(shared_datasets / "tfds")
    checked = check_serving_inputs([lstm_export], tfds_dir)
    assert checked[lstm_export] == {"source": "tfds", "name": "imdb_reviews", "data_dir": tfds_dir}
