"""`tools/benchmark.py` accuracy mode end to end on synthetic data (one tiny run in a child process)."""

import json
import os
import subprocess
import sys

from kzoo.benchmark import ROOT


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
    assert summary["runs"] == 1 and summary["ok"] == 1 and len(summary["accuracy"]["values"]) == 1
