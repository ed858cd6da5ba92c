import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent


def evaluate_tool(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
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
