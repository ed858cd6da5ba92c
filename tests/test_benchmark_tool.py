"""`tools/benchmark.py` accuracy mode end to end on synthetic data (one tiny run in a child process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

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
