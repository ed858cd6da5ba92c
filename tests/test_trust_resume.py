"""Trustworthy runs: --resume re-checks the saved run's settings, its config file and a tampered config."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _trust import finished_run, run_cli  # noqa: E402,F401  (finished_run: a module-scoped fixture)


def test_resume_of_a_finished_run_changes_nothing(finished_run, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()}
    code, out, _ = run_cli(["--model", "mlp", "--output", str(finished_run), "--resume"], capsys)
    assert code == 0 and "is a finished run" in out
    assert {p.name: p.stat().st_mtime_ns for p in finished_run.iterdir()} == before


@pytest.mark.parametrize("args, fragment", [
    (["--model", "cnn"], "--model cnn (the run is 'mlp')"),
    (["--model", "mlp", "--epochs", "7"], "train.epochs=7 (the run has 1)"),
    (["--model", "mlp", "--set", "train.learning_rate=0.5"], "train.learning_rate=0.5 (the run has 0.001)"),
    (["--model", "mlp", "--set", "dropout=0.5"], "model.dropout=0.5 (the run has 0.2)"),
])
def test_resume_refuses_settings_that_differ_from_the_saved_run(finished_run, capsys, args, fragment):
    code, _, err = run_cli([*args, "--output", str(finished_run), "--resume"], capsys)
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_resume_refuses_a_config_file_that_differs_from_the_saved_run(finished_run, tmp_path, capsys):
    from kzoo.entry_config import describe_config

    same = tmp_path / "same.yaml"
    same.write_text(describe_config("mlp", tiny=True), encoding="utf-8")  # the run's own settings, as a file
    code, out, err = run_cli(["--model", "mlp", "--output", str(finished_run), "--resume", "--config", str(same)], capsys)
    assert code == 0 and "nothing to resume" in out, err
    changed = tmp_path / "changed.yaml"
    text = same.read_text(encoding="utf-8")
    assert "  learning_rate: 0.001 " in text
    changed.write_text(text.replace("  learning_rate: 0.001 ", "  learning_rate: 0.005 "), encoding="utf-8")
    code, _, err = run_cli(["--model", "mlp", "--output", str(finished_run), "--resume", "--config", str(changed)],
                           capsys)
    assert code == 2 and f"train.learning_rate=0.005 in {changed} (the run has 0.001)" in err, err


def test_resume_checks_a_tampered_config_like_a_new_one(finished_run, tmp_path, capsys):
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    text = (finished_run / "config.yaml").read_text().replace("epochs: 1\n", "epochs: -3\n")
    (tampered / "config.yaml").write_text(text)
    code, _, err = run_cli(["--model", "mlp", "--output", str(tampered), "--resume"], capsys)
    assert code == 2 and "train.epochs must be" in err, err
    assert sorted(p.name for p in tampered.iterdir()) == ["config.yaml"]
    assert json.loads((finished_run / "metrics.json").read_text())["status"] == "finished"
