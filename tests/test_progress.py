"""Progress a person sees: each long step says when it starts and how long it took, bars on a terminal, and
after each epoch an estimate of the run's remaining time."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from kzoo import progress
from kzoo.cli import evaluate as evaluate_tool
from kzoo.cli import train as train_tool
from kzoo.data.wordpiece import learn_wordpiece_vocabulary
from kzoo.training import callbacks as kzoo_callbacks


def _step_done(lines, what):
    """Whether `lines` hold the start line of step `what` and, after it, its end line with the seconds."""
    start = next((i for i, line in enumerate(lines) if line.startswith(f"kzoo: {what}") and line.endswith("...")), None)
    return start is not None and any(re.match(rf"kzoo: {re.escape(what)}.*: done in [\d.]+ s$", line)
                                     for line in lines[start + 1:])


def test_a_tiny_run_says_each_long_step_and_the_time_left_after_each_epoch(tmp_path, capsys):
    # The export's lines come from `export_run`, which `kzoo-export` calls the same way.
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        train_tool.run(["--model", "lstm", "--tiny", "--data", "synthetic", "--set", "data.synthetic_size=120",
                        "--epochs", "2", "--output", str(out)])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    lines = captured.err.splitlines()
    assert _step_done(lines, "learning the word vocabulary from 108 training texts")
    estimates = [line for line in lines if line.startswith("kzoo: epoch ")]
    assert [line.split(";")[0] for line in estimates] == [f"kzoo: epoch {n}/2 done" for n in (1, 2)]
    assert all(re.search(r"; (about \d+ (s|min) left|testing next)$", line) for line in estimates), estimates
    assert _step_done(lines, "testing on the test split (30 examples)")
    assert _step_done(lines, f"exporting {out} as a SavedModel")
    assert lines.index(estimates[-1]) < next(i for i, line in enumerate(lines) if line.startswith("kzoo: testing"))
    assert json.loads(captured.out.splitlines()[-1])["run_dir"] == str(out)  # stdout still ends with the JSON line

    assert evaluate_tool.main([str(out)]) == 0
    captured = capsys.readouterr()
    assert _step_done(captured.err.splitlines(), "evaluating lstm on the test split (30 examples)")
    assert json.loads(captured.out)["metrics"]  # stdout is only the JSON


@pytest.mark.smoke
def test_the_estimate_is_the_epochs_left_times_the_mean_epoch_plus_the_test(monkeypatch, capsys):
    clock = iter([0.0, 30.0,  # epoch 1 (tracing: left out of the mean once there are others)
                  30.0, 38.0, 40.0, 40.0,  # epoch 2: validation pass 38..40 s (100 examples)
                  40.0, 50.0])  # epoch 3
    monkeypatch.setattr(kzoo_callbacks.time, "perf_counter", lambda: next(clock))
    estimate = kzoo_callbacks.RunTimeEstimate(epochs=10, test_examples=500, val_examples=100)
    estimate.on_epoch_begin(0)
    estimate.on_epoch_end(0)
    estimate.on_epoch_begin(1)  # the line for epoch 1 comes here, after Keras's own epoch line
    estimate.on_test_begin()
    estimate.on_test_end()
    estimate.on_epoch_end(1)
    assert estimate.remaining_seconds() == 8 * 10 + 2 * 500 / 100
    estimate.on_epoch_begin(2)
    estimate.on_epoch_end(2)  # mean of epochs 2 and 3: 10 s
    estimate.on_train_end()  # training over (early stop or last epoch): only the test is left
    assert capsys.readouterr().err.splitlines() == [
        "kzoo: epoch 1/10 done; about 4 min left",  # 9 x 30 s, no test estimate yet
        "kzoo: epoch 2/10 done; about 2 min left",  # 8 x 10 s + 5 x 2 s
        "kzoo: epoch 3/10 done; about 10 s left",
    ]


def test_durations_read_as_a_person_says_them():
    assert [progress.format_seconds(s) for s in (2.44, 41, 185, 4320)] == ["2.4 s", "41 s", "3 min 5 s", "1 h 12 min"]
    assert [progress.format_seconds(s, rough=True) for s in (2.4, 185, 4320)] == ["2 s", "3 min", "1 h 12 min"]


def test_a_loop_of_known_length_draws_a_bar_on_a_terminal_only(monkeypatch, capsys):
    texts = tf.data.Dataset.from_tensor_slices(["a fine film", "a dull film", "fine acting"] * 4).batch(4)
    learn_wordpiece_vocabulary(texts, 20)
    assert capsys.readouterr().out == ""  # not a terminal: no bar
    monkeypatch.setattr(progress, "interactive", lambda: True)
    assert isinstance(progress.bar(3), type(progress.bar(1)))
    learn_wordpiece_vocabulary(texts, 20)
    assert "3/3" in capsys.readouterr().out


def test_a_step_that_fails_says_nothing_about_being_done(capsys):
    with pytest.raises(ValueError):
        with progress.step("reading"):
            raise ValueError("no")
    assert capsys.readouterr().err.splitlines() == ["kzoo: reading..."]
    np.testing.assert_equal(progress.count(tf.data.Dataset.range(5)), 5)
    assert progress.count(tf.data.Dataset.range(5).filter(lambda x: x > 2)) is None
