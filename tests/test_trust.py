"""Trustworthy runs: a diverged run is a failure, a bad command leaves nothing, --resume re-checks."""

import json
import subprocess
import sys
import typing

import keras
import numpy as np
import pytest

import kzoo
from kzoo.cli import train as train_tool
from kzoo.errors import TrainingDiverged, UnsafeFileError
from kzoo.export import ExportError, export_model, export_run
from kzoo.run_dir import RunDir
from kzoo.schema import Activation
from kzoo.training import train
from kzoo.finite import nonfinite_weights
from kzoo.training.divergence import loss_growth

DIVERGING = ["train.optimizer=sgd", "train.learning_rate=1e6"]


def run_cli(argv, capsys):
    """`kzoo-train ARGV` in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        train_tool.run(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    train("mlp", tiny=True, data="synthetic", output=str(out), export=False, verbose=0)
    return out


# ---------------------------------------------------------------------------- a diverged run is a failure
def test_a_run_whose_loss_becomes_nan_fails_is_not_finished_and_exports_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out),
                            *[a for s in DIVERGING for a in ("--set", s)]], capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "Lower the learning rate" in lines[0], err
    assert "Traceback" not in err
    run = RunDir(out)
    assert not run.is_finished and not run.model_file.exists() and not run.export_dir.exists()
    assert not run.best_file.exists()  # its only epoch ended with NaN weights
    record = run.metrics()
    assert record["status"] == "diverged" and "loss became" in record["reason"]
    assert record["epochs_run"] == len(record["history"]["loss"])


def test_best_keras_is_written_only_from_finite_weights(tmp_path, capsys):
    from kzoo.training.callbacks import AtomicModelCheckpoint

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    good = [w.copy() for w in model.get_weights()]
    best = tmp_path / "best.keras"
    checkpoint = AtomicModelCheckpoint(str(best), monitor="val_accuracy", mode="max", save_best_only=True)
    checkpoint.set_model(model)
    model.set_weights([np.full(w.shape, np.nan, w.dtype) for w in good])
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.3})  # the first epoch is always "best"
    assert not best.exists() and "best.keras not written after epoch 1: weights not finite" in capsys.readouterr().err
    model.set_weights(good)
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.2})  # worse than the poisoned epoch's score, yet written
    written = best.read_bytes()
    model.set_weights([np.full(w.shape, np.inf, w.dtype) for w in good])
    checkpoint.on_epoch_end(2, {"val_accuracy": 0.9})
    assert best.read_bytes() == written
    assert not nonfinite_weights(keras.saving.load_model(best))


def test_the_python_api_raises_on_divergence(tmp_path):
    with pytest.raises(TrainingDiverged, match="Nothing was saved"):
        train("mlp", tiny=True, data="synthetic", output=str(tmp_path / "run"), overrides=DIVERGING, verbose=0)


def test_a_finished_run_records_its_status_and_no_loss_growth(finished_run):
    record = RunDir(finished_run).metrics()
    assert record["status"] == "finished" and record["loss_growth"] is None and record["stopped_on_nan"] is None


def test_loss_growth_reports_a_loss_far_above_where_it_started():
    assert loss_growth({"loss": [2.3, 1.1, 0.7]}) is None
    assert loss_growth({"loss": [2.0, 5.0]}) is None  # worse, but not far above
    assert loss_growth({"loss": [1e3, 5e18]}) == {"first": 1e3, "last": 5e18, "ratio": 5e15, "since": "epoch 1"}
    assert loss_growth({"loss": [1.0, float("inf")]})["ratio"] is None
    # Adam at 1e6 blew up within epoch 1 (1e19) and "fell" to 1e17: the first batch is the reference.
    assert loss_growth({"loss": [1e19, 1e17]}) is None
    assert loss_growth({"loss": [1e19, 1e17]}, first_batch_loss=2.3) == {
        "first": 2.3, "last": 1e17, "ratio": 1e17 / 2.3, "since": "the first batch"}
    assert loss_growth({"loss": [1e17]}, first_batch_loss=2.3)["since"] == "the first batch"  # one epoch is enough
    # Trained weights start near 0: pruning them may lift the loss tenfold without diverging.
    assert loss_growth({"loss": [0.6]}, first_batch_loss=0.05) is None


def test_adam_at_a_huge_learning_rate_diverges_without_a_nan_and_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), "--epochs", "2",
                            "--set", "train.optimizer=adam", "--set", "train.learning_rate=1e6"], capsys)
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1 and "the training loss rose from" in lines[0], err
    assert "(the first batch)" in lines[0] and "Lower the learning rate" in lines[0]
    run = RunDir(out)
    assert not run.model_file.exists() and not run.export_dir.exists()
    record = run.metrics()
    assert record["status"] == "diverged" and record["loss_growth"]["since"] == "the first batch"


def _poisoned(config, value):
    model = kzoo.build_from_config(config, compile=False)
    model.set_weights([np.full(w.shape, value, w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("value, fragment", [(np.nan, "weights are not finite"), (3e38, "outputs on an example batch")])
def test_export_refuses_a_model_with_nonfinite_weights_or_outputs(tmp_path, value, fragment):
    config = kzoo.get_config("mlp", tiny=True)
    with pytest.raises(ExportError, match=fragment):
        export_model(_poisoned(config, value), config, None, tmp_path / "serving")
    assert not (tmp_path / "serving").exists()


def test_export_run_refuses_a_diverged_model_so_the_newest_version_stays_sane(finished_run, tmp_path):
    serving = tmp_path / "serving"
    good = export_run(finished_run, output=serving)
    config = RunDir(finished_run).config()
    _poisoned(config, np.nan).save(finished_run / "nan.keras")
    with pytest.raises(ExportError, match="not finite"):
        export_run(finished_run / "nan.keras", output=serving)
    assert sorted(p.name for p in serving.iterdir()) == [good.name]


# ---------------------------------------------------------------------------- a bad command leaves nothing
@pytest.mark.parametrize("args, fragment", [
    (["--set", "model.activation=relux"], "model.activation must be one of"),
    (["--set", "train.optimizer=adamx"], "train.optimizer must be one of"),
    (["--set", "train.schedule=linear"], "train.schedule must be one of"),
    (["--set", "model.hidden_units=[16, -8]"], "model.hidden_units[1] must be > 0"),
    (["--set", "model.hidden_units=[16, eight]"], "model.hidden_units[1]"),
    (["--set", "train.epochs=-3"], "train.epochs"),
    (["--set", "runtime.strategy=gpu"], "runtime.strategy must be one of"),
])
def test_bad_values_are_refused_before_the_run_directory_is_written(tmp_path, capsys, args, fragment):
    out = tmp_path / "run"
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), *args], capsys)
    assert code == 2 and err.startswith("error: ") and fragment in err and "Traceback" not in err, err
    assert not out.exists()


def test_a_non_utf8_config_file_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model:\n  units: 4\n  name: caf\xe9\n")
    code, _, err = run_cli(["--model", "mlp", "--config", str(bad), "--output", str(tmp_path / "run")], capsys)
    assert code == 2 and "not valid UTF-8" in err and not (tmp_path / "run").exists()


def test_a_path_like_model_name_creates_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["--model", "../../evil", "--tiny", "--data", "synthetic"], capsys)
    assert code == 2 and "unknown model '../../evil'" in err
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent.parent / "evil").exists()


def test_activation_names_are_keras_activations():
    for name in typing.get_args(Activation):
        assert callable(keras.activations.get(name)), name


def _lambda_model(path):
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32") / 255.0)(inputs)
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x))).save(path)


def test_a_lambda_model_file_is_refused_in_one_line_wherever_kzoo_loads_one(finished_run, tmp_path, capsys):
    unsafe = tmp_path / "unsafe_run"
    unsafe.mkdir()
    for name in ("config.yaml", "metrics.json"):
        (unsafe / name).write_bytes((finished_run / name).read_bytes())
    _lambda_model(unsafe / "model.keras")
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(tmp_path / "pruned"),
                            "--set", f"prune.from_run={unsafe}", "--set", "prune.target_sparsity=0.5"], capsys)
    assert code == 2 and "Lambda layer" in err and "Traceback" not in err, err
    evaluate = subprocess.run([sys.executable, "-m", "kzoo.cli.evaluate", str(unsafe), "--data", "synthetic"],
                              capture_output=True, text=True)
    assert evaluate.returncode == 2 and "Lambda layer" in evaluate.stderr and "Traceback" not in evaluate.stderr
    _lambda_model(tmp_path / "gmf.keras")
    with pytest.raises(UnsafeFileError, match="model.pretrained_gmf"):
        kzoo.build("neumf", pretrained_gmf=str(tmp_path / "gmf.keras"), pretrained_mlp=str(tmp_path / "gmf.keras"))


# ---------------------------------------------------------------------------- --resume re-checks
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


def test_a_full_disk_anywhere_in_a_tool_ends_in_one_line(monkeypatch, capsys):
    import errno

    def full(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/history.csv")

    monkeypatch.setattr(train_tool, "main", full)
    code, _, err = run_cli([], capsys)
    assert code == 2 and err.strip() == ("error: no space left on the device writing /runs/x/history.csv (No space left "
                                         "on device); free some and continue with --resume")


def test_an_int8_export_says_it_is_the_newest_version(finished_run, tmp_path):
    done = subprocess.run([sys.executable, "-m", "kzoo.cli.export", str(finished_run), "--output", str(tmp_path / "s"),
                           "--quantize", "int8"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the int8 export is now the newest version" in done.stderr and done.stdout.strip().endswith("/s/1")


# ---------------------------------------------------------------------------- no better than chance
def test_a_model_no_better_than_chance_gets_a_warning_a_flag_and_a_card_line(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["--model", "mlp", "--tiny", "--data", "synthetic", "--output", str(out), "--no-export",
                               "--set", "train.learning_rate=1e-9"], capsys)  # the weights barely move
    assert code == 0
    warnings = [line for line in stdout.splitlines() if "no better than chance" in line]
    assert len(warnings) == 1 and "always predicting the most frequent class" in warnings[0], stdout
    record = RunDir(out).metrics()
    assert record["no_better_than_chance"] is True
    chance = record["chance"]
    assert chance["metric"] == "val_accuracy" and chance["best"] <= chance["chance"] + chance["margin"]
    assert 0.1 <= chance["chance"] < 0.2 and chance["examples"] == record["data"]["sizes"]["val"]  # 10 classes
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.count("NO BETTER THAN CHANCE") == 2  # under the title and in the limitations


def test_a_model_that_learned_is_not_flagged(finished_run):
    record = RunDir(finished_run).metrics()
    assert record["no_better_than_chance"] is False
    assert record["chance"]["best"] > record["chance"]["chance"] + record["chance"]["margin"]
    assert "NO BETTER THAN CHANCE" not in (finished_run / "README.md").read_text(encoding="utf-8")


def test_a_random_ranking_hits_k_of_each_users_candidates():
    from kzoo.data.recommender.evaluation import RankingEvaluator

    valid = np.array([[True] * 100, [True] * 5 + [False] * 95, [True] * 25 + [False] * 75])  # 99, 4, 24 negatives
    evaluator = RankingEvaluator(None, {"val": (np.array([1, 2, 3]), np.zeros((3, 100)), valid)}, 10, False)
    np.testing.assert_allclose(evaluator.random_hit_rates("val"), [10 / 100, 1.0, 10 / 25])
