"""`--strategy multi_worker`: two real worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy).

These tests exercise the compatibility fixes in `kzoo.training.compat` end to end (without them
`model.fit` fails in every multi-worker run, keras-team/keras#20585) and the chief-only writing of
`train()`.
"""

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kzoo.training.launch import free_ports, launch_local, tf_config

ROOT = Path(__file__).resolve().parent.parent
TRAIN = [sys.executable, str(ROOT / "tools" / "train.py")]


def _env(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), TF_CPP_MIN_LOG_LEVEL="3")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


def _history(run_dir: Path) -> list[dict]:
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def _run_workers(args, tmp_path, capsys, workers=2, timeout=300):
    codes = launch_local(TRAIN + args, workers, env=_env(tmp_path), timeout=timeout, cpu_threads=1)
    return codes, capsys.readouterr().out


def test_two_workers_train_in_sync_and_only_the_chief_writes(tmp_path, capsys):
    run = tmp_path / "run"
    codes, out = _run_workers(["--model", "mlp", "--tiny", "--data", "synthetic", "--strategy", "multi_worker",
                               "--epochs", "2", "--batch-size", "64", "--output", str(run)], tmp_path, capsys)
    assert codes == [0, 0], out[-3000:]
    digests = dict(re.findall(r"worker (\d) of 2 final weights sha256 (\w+)", out))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"], out[-3000:]
    # Each worker trained on its own half of the 3,600 synthetic training examples.
    assert out.count("'train': 1800") == 2 and "'train_all_workers': 3600" in out
    rows = _history(run)
    assert [int(r["epoch"]) for r in rows] == [0, 1]  # one writer: a second one would duplicate the rows
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert sorted(p.name for p in (run / "export").iterdir()) == ["1"]
    assert (run / "metrics.json").is_file() and (run / "model.keras").is_file()
    # --batch-size is global: each worker feeds half a batch per step, so an epoch is 3,600 / batch steps.
    import math

    import keras
    import yaml

    batch = yaml.safe_load((run / "config.yaml").read_text())["train"]["batch_size"]
    steps = int(keras.saving.load_model(run / "model.keras").optimizer.iterations.numpy())
    assert steps == 2 * math.ceil(1800 / (batch // 2))
    # The recorded test metric is exact: one process scoring the saved model gets the same number.
    from kzoo.training.evaluate import evaluate_run

    recorded = json.loads((run / "metrics.json").read_text())["test"]
    assert evaluate_run(str(run), data="synthetic")["metrics"]["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-6)
    # The other worker's scratch folder was removed; nothing else was written outside the run dir.
    assert not any((tmp_path / "tmp").glob("kzoo-worker*"))


@pytest.mark.parametrize("model", ["cnn", pytest.param("gmf", marks=pytest.mark.slow)])  # gmf: ~75 s
def test_workers_stay_in_sync_beyond_trainable_weights(tmp_path, capsys, model):
    """cnn: batch-norm moving averages (global statistics); gmf: the ranking callback predicts on every worker."""
    run = tmp_path / "run"
    codes, out = _run_workers(["--model", model, "--tiny", "--data", "synthetic", "--strategy", "multi_worker",
                               "--epochs", "2", "--batch-size", "64", "--output", str(run), "--no-export"], tmp_path, capsys)
    assert codes == [0, 0], out[-3000:]
    digests = dict(re.findall(r"worker (\d) of 2 final weights sha256 (\w+)", out))
    assert set(digests) == {"0", "1"} and digests["0"] == digests["1"], out[-3000:]
    assert (run / "metrics.json").is_file()


def test_multi_worker_needs_an_output_dir(tmp_path, capsys):
    codes, out = _run_workers(["--model", "mlp", "--tiny", "--data", "synthetic", "--strategy", "multi_worker"],
                              tmp_path, capsys, timeout=120)
    assert codes == [2, 2], out[-2000:]
    assert out.count("error: --strategy multi_worker needs --output DIR") == 2


def _start(index, hosts, args, env):
    worker_env = dict(env, TF_CONFIG=tf_config(hosts, index), TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    return subprocess.Popen(TRAIN + args, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_killed_worker_resumes_from_the_last_finished_epoch(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--model", "mlp", "--tiny", "--data", "synthetic", "--strategy", "multi_worker", "--epochs", "4", "--batch-size", "64",
            "--set", "data.synthetic_size=8000", "--output", str(run), "--no-export"]
    env = _env(tmp_path)
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    chief, other = _start(0, hosts, args, env), _start(1, hosts, args, env)
    try:
        # The chief prints "Epoch 2/4" (fit's verbose=2 line) after its BackupAndRestore saved epoch 1;
        # kill the other worker then.
        for line in chief.stdout:
            if line.startswith("Epoch 2/4"):
                break
        else:
            pytest.fail(f"the chief never finished epoch 1 (exit {chief.wait()})")
        other.kill()
        other.wait()
        assert chief.wait(timeout=180) != 0  # its next all-reduce has no peer
    finally:
        for proc in (chief, other):
            if proc.poll() is None:
                proc.kill()
    assert [int(r["epoch"]) for r in _history(run)] == [0]

    started = time.perf_counter()
    codes, out = _run_workers(args + ["--resume"], tmp_path, capsys)
    assert codes == [0, 0], out[-3000:]
    first_epochs = re.findall(r"\[w(\d)\] Epoch (\d)/4", out)
    assert ("0", "2") in first_epochs and ("0", "1") not in first_epochs  # continued from epoch 2
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1, 2, 3]
    assert time.perf_counter() - started < 240


def test_upstream_keras_still_fails_without_kzoos_fixes(tmp_path, capsys):
    """Without `kzoo.training.compat`, Keras 3.15's `fit` fails on two workers (keras#20585).

    When this test fails, upstream works on its own and the compat module can be removed.
    """
    env = dict(_env(tmp_path), KZOO_DISABLE_COMPAT="1")
    codes = launch_local(TRAIN + ["--model", "mlp", "--tiny", "--data", "synthetic", "--strategy", "multi_worker",
                                  "--epochs", "1", "--batch-size", "64", "--output", str(tmp_path / "run"), "--no-export"],
                         2, env=env, timeout=300, cpu_threads=1)
    out = capsys.readouterr().out
    assert codes != [0, 0]
    assert "Invalid reduction dimension 0" in out or "PerReplica" in out, out[-3000:]
