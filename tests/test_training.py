"""tools/train.py and kzoo.training.train end to end on tiny configs and synthetic data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from _runs import saved_model_test_metrics  # noqa: E402

TRAIN = [sys.executable, str(ROOT / "tools" / "train.py")]


def run_tool(args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(TRAIN + args, capture_output=True, text=True, env=env, timeout=300, **kwargs)


def test_train_writes_a_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    metrics = train("mlp", tiny=True, data="synthetic", epochs=2, output=str(out), export=False)
    for name in ("config.yaml", "metrics.json", "history.csv", "best.keras", "model.keras", "curves.png"):
        assert (out / name).is_file(), name
    assert any((out / "logs").rglob("events.out.tfevents*"))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["model"] == "mlp" and saved["data"]["source"] == "synthetic"
    assert saved["epochs_run"] == 2 and len(saved["history"]["loss"]) == 2
    assert len(saved["history"]["val_accuracy"]) == 2
    # The recorded test metrics are model.keras scored on the test split.
    assert saved["test"] == pytest.approx(saved_model_test_metrics(out), rel=1e-5, abs=1e-7)
    assert set(saved["test"]) == {"accuracy", "loss"}
    # history.csv is what metrics.json reports; best.keras is the epoch with the best val_accuracy.
    rows = (out / "history.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    assert [float(r.split(",")[header.index("loss")]) for r in rows[1:]] == pytest.approx(saved["history"]["loss"])
    best = int(np.argmax(saved["history"]["val_accuracy"]))
    best_val = saved_model_test_metrics(out, out / "best.keras", split="val")
    assert best_val["accuracy"] == pytest.approx(saved["history"]["val_accuracy"][best], abs=1e-6)
    assert best_val["loss"] == pytest.approx(saved["history"]["val_loss"][best], rel=1e-5)
    assert saved["train_examples_per_sec"] > 0 and saved["replicas"] == 1
    assert saved["versions"]["tensorflow"]
    assert not (out / "backup").exists(), "BackupAndRestore state must be removed after a finished run"


def test_same_seed_gives_identical_metrics(tmp_path):
    runs = [
        train("mlp", tiny=True, data="synthetic", epochs=2, seed=7, deterministic=True,
              output=str(tmp_path / f"r{i}"), export=False)
        for i in range(2)
    ]
    assert runs[0]["history"] == runs[1]["history"]
    assert runs[0]["test"] == runs[1]["test"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--model", "lsmt"], "unknown model 'lsmt'. Did you mean 'lstm'"),
        (["--model", "mlp", "--set", "model.unitz=3"], "unknown config key 'model.unitz'"),
        (["--model", "mlp", "--set", "model.dropout=lots"], "model.dropout must be a number"),
        (["--model", "mlp", "--strategy", "warp"], "unknown strategy 'warp'"),
        (["--model", "mlp", "--resume", "--output", "{tmp}/none"], "no run to continue"),
        (["--model", "mlp", "--data", "{tmp}/missing.npz"], "missing.npz"),
        (["--model", "mlp", "--output", "{tmp}/afile"], "is a file"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragment):
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_tool(args + ["--tiny", "--no-export"])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


USER_CONFIG = """
description: a user's own mlp settings
model: {hidden_units: [12, 6], dropout: 0.0, num_classes: 10}
data: {dataset: mnist, synthetic_size: 300, val_fraction: 0.2}
train: {optimizer: sgd, learning_rate: 0.03, schedule: constant, batch_size: 40, epochs: 2, refit: false,
        early_stopping_patience: 0}
"""


def test_config_file_replaces_the_entry_yaml_and_takes_effect(tmp_path):
    import keras
    import yaml

    (tmp_path / "mine.yaml").write_text(USER_CONFIG)
    out = tmp_path / "run"
    result = run_tool(["--model", "mlp", "--config", str(tmp_path / "mine.yaml"), "--data", "synthetic",
                       "--set", "train.epochs=3", "--output", str(out), "--no-export"])
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["hidden_units"] == [12, 6] and config["model"]["dropout"] == 0.0
    assert config["data"]["synthetic_size"] == 300 and config["data"]["val_fraction"] == 0.2
    assert {k: config["train"][k] for k in ("optimizer", "learning_rate", "schedule", "batch_size", "epochs")} == {
        "optimizer": "sgd", "learning_rate": 0.03, "schedule": "constant", "batch_size": 40, "epochs": 3}  # --set wins
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3 and metrics["refit"] is None
    assert (metrics["data"]["sizes"]["train"], metrics["data"]["sizes"]["val"]) == (240, 60)  # 300, a fifth held out
    model = keras.saving.load_model(out / "model.keras")
    assert [tuple(w.shape) for w in model.weights if w.path.endswith("/kernel")] == [(784, 12), (12, 6), (6, 10)]
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.03)
    assert int(model.optimizer.iterations) == 3 * 6  # 240 examples in batches of 40, three epochs


def test_existing_run_is_never_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    result = run_tool(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out)])
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert (out / "metrics.json").read_text() == "{}"


def test_kill_9_then_resume_finishes_the_requested_epochs(tmp_path):
    out = tmp_path / "run"
    args = ["--model", "cnn", "--tiny", "--data", "synthetic", "--epochs", "6", "--batch-size", "4",
            "--set", "data.synthetic_size=1200", "--set", "train.early_stopping_patience=0", "--output", str(out), "--no-export"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(TRAIN + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    history = out / "history.csv"
    deadline = time.time() + 240
    while time.time() < deadline:
        if history.exists() and len(history.read_text().strip().splitlines()) >= 3:  # header + 2 epochs
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stdout.read().decode()[-2000:]}")
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("no epoch finished in time")
    os.kill(proc.pid, signal.SIGKILL)  # during epoch 3
    proc.wait()
    assert not (out / "metrics.json").exists()

    resumed = run_tool(args + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 1/6" not in resumed.stdout and "Epoch 6/6" in resumed.stdout, resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 6
    assert len(metrics["history"]["loss"]) == 6


def test_mixed_precision_trains_with_float32_outputs(tmp_path):
    import keras
    import numpy as np

    try:
        metrics = train("mlp", tiny=True, data="synthetic", epochs=1, mixed_precision=True,
                        output=str(tmp_path / "run"), export=False, verbose=0)
        model = keras.saving.load_model(tmp_path / "run" / "model.keras")
        assert model.get_layer("dense_0").compute_dtype == "bfloat16"
        out = model(np.zeros((2, 28, 28, 1), "uint8"))
        assert str(out.dtype) == "<dtype: 'float32'>" or "float32" in str(out.dtype)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert metrics["dtype_policy"] == "mixed_bfloat16"
    assert np.isfinite(metrics["history"]["loss"][0])
