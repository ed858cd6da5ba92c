"""What a person sees of a run: the run directory, an honest data source, a summary, Ctrl-C in one line."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kzoo.cli import train as train_tool
from kzoo.run_dir import RunDir
from kzoo.training.summary import SYNTHETIC_WARNING, format_summary, reference_line


def test_a_synthetic_run_says_so_in_its_output_config_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_tool.run(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), "--no-export"])
    printed = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert f"kzoo: run directory {out}" in printed.splitlines()[0]
    assert "on SYNTHETIC" in printed and SYNTHETIC_WARNING in printed
    assert "not comparable (synthetic data)" in printed  # never "met" on generated data
    run = RunDir(out)
    assert run.config()["data_source"] == {"kind": "synthetic", "name": "synthetic/image_classification"}
    assert run.metrics()["data"]["source"] == "synthetic"
    summary_end = printed.rstrip().splitlines()
    assert json.loads(summary_end[-1])["run_dir"] == str(out)  # the JSON line still comes last
    assert any(line.strip().startswith("next:") and f"kzoo-evaluate {out}" in line for line in summary_end)


@pytest.mark.smoke
def test_the_summary_compares_the_test_metric_with_the_reference():
    reference = {"metric": "accuracy", "value": 0.98, "source": "Keras mnist_mlp"}
    assert reference_line({"accuracy": 0.985}, reference, synthetic=False).endswith(": met")
    assert reference_line({"accuracy": 0.95}, reference, synthetic=False).endswith(": NOT met")
    assert reference_line({"loss": 0.1}, reference, synthetic=False) is None
    metrics = {"run_dir": "runs/x", "data": {"source": "tfds", "name": "mnist", "sizes": {"train": 54000, "val": 6000,
                                                                                            "test": 10000}},
               "epochs_run": 12, "epochs_requested": 20, "refit": {"epochs": 9}, "test": {"accuracy": 0.985},
               "train_seconds": 61.2, "export": "runs/x/export/1"}
    text = format_summary(metrics, {"entry": "mlp", "reference": reference})
    assert "mnist (tfds): train 54000, val 6000, test 10000" in text
    assert "(12 of 20 epochs; refit: 9 epochs on train + validation)" in text
    assert "export: runs/x/export/1" in text and "kzoo-predict runs/x/export/1" in text


@pytest.mark.slow  # a subprocess training of 50 epochs interrupted after two (about a minute on 2 cores)
def test_ctrl_c_stops_with_one_line_and_the_command_that_resumes(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kzoo.cli.train", "--model", "mlp", "--tiny", "--data", "synthetic", "--epochs", "50",
         "--set", "data.synthetic_size=4000", "--output", str(out), "--no-export"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    try:
        deadline = time.time() + 240
        for line in proc.stdout:  # fit's verbose=2 prints "Epoch 3/50" once epoch 2 is over
            if line.startswith("Epoch 3/50") or time.time() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    assert "interrupted after epoch" in lines[0] and f"--output {out} --resume" in lines[0]
    assert not RunDir(out).is_finished


def test_the_next_line_is_a_command_to_run_and_recommender_rows_say_what_they_hold():
    metrics = {"run_dir": "runs/g", "epochs_run": 3, "epochs_requested": 3, "train_seconds": 9.0,
               "test": {"hr@10": 0.6}, "export": "runs/g/export/1",
               "data": {"source": "files", "name": "u.data", "sizes": {
                   "train": 4570, "train_positives": 914, "val": 400, "val_users": 4, "test": 400, "test_users": 4}}}
    text = format_summary(metrics, {"entry": "gmf", "task": "recommendation", "reference": {}})
    assert "train 4570 rows (914 interactions + their sampled negatives)" in text
    assert "test 400 rows (4 users' held-out items + their ranking candidates)" in text
    next_line = next(line for line in text.splitlines() if line.strip().startswith("next:"))
    assert "..." not in next_line and "kzoo-predict runs/g/export/1 --user-id 1 --k 10" in next_line


def test_train_help_says_where_an_omitted_flag_takes_its_value_from():
    help_text = " ".join(train_tool.build_parser().format_help().split())
    assert "--epochs EPOCHS epochs to train (default: the config's train.epochs)" in help_text
    assert "(default: the config's train.batch_size)" in help_text
    assert "random seed (default: the config's runtime.seed, 0)" in help_text


def test_a_serving_benchmark_of_a_runs_export_refreshes_its_card(tmp_path, capsys):
    from kzoo.cli import benchmark
    from kzoo.training import train

    metrics = train("mlp", data="synthetic", tiny=True, output=str(tmp_path / "run"), verbose=0,
                    overrides={"data.synthetic_size": 64})
    card = tmp_path / "run" / "README.md"
    assert "serving latency: not measured" in card.read_text()
    assert benchmark.main(["--serving", metrics["export"]]) == 0
    text = card.read_text()
    assert "serving latency: not measured" not in text and "serving latency (batch 1, `serving_default`): p50" in text
    assert RunDir(tmp_path / "run").metrics()["serving_latency"]["batch1_p50_ms"] > 0
