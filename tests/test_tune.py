"""kzoo-tune's search space, trials and study (kzoo.tuning), in this process on synthetic data.

A 4-trial study of gmf's tiny config: the values stay in the space, the pruner stops a trial after
its first epoch, the best config loads with `--config`, and the test split is never read (a spy on
the data bundle and the ranking evaluator, which sees `test` when a normal run tests).
"""

import json
import logging
from pathlib import Path

import keras
import optuna
import pytest
import yaml

import kzoo
from kzoo import schema
from kzoo.config import ConfigError, find_config_file
from kzoo.data.recommender.evaluation import RankingEvaluator
from kzoo.train_request import TrainRequest
from kzoo.training import runner
from kzoo.tuning import study as study_lib
from kzoo.tuning.space import search_space
from kzoo.tuning.study import TuneRequest, tune

FAST = ["train.jit_compile=false", "train.steps_per_execution=1"]


@pytest.mark.parametrize("name", ["gmf", "lstm", "transformer_cls", "mlp"])
def test_the_shipped_spaces_resolve_and_sit_around_the_defaults(name):
    config = kzoo.get_config(name)
    space = search_space(config)
    assert space["train.learning_rate"].keys() == {"log_float"}
    low, high = space["train.learning_rate"]["log_float"]
    assert low < config["train"]["learning_rate"] < high


def _with_tune(tmp_path, tune_section) -> Path:
    raw = yaml.safe_load(find_config_file("gmf.yaml").read_text())
    raw["tune"] = tune_section
    path = tmp_path / "gmf.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("section, message", [
    ({"train.learnig_rate": {"log_float": [1e-4, 1e-2]}},
     "gmf: tune: unknown config key 'train.learnig_rate'. Did you mean 'train.learning_rate'"),
    ({"learning_rate": {"float": [0.1, 0.2]}}, "unknown config key 'learning_rate'"),
    ({"model.l2": {"uniform": [0, 1]}}, "tune.model.l2 must be one {KIND: ...} with KIND one of choice, int, float, "
                                        "log_float, got {'uniform': [0, 1]}"),
    ({"model.l2": {"float": [0.1, 0.01]}}, "tune.model.l2: float range must have low < high, got [0.1, 0.01]"),
    ({"model.l2": {"log_float": [0, 0.1]}}, "tune.model.l2: log_float range must be above 0"),
    ({"model.l2": {"float": [0.1]}}, "tune.model.l2: float must be [low, high] numbers"),
    ({"data.num_negatives": {"float": [1, 4]}},
     "tune.data.num_negatives: float needs a key that is a number; the key is an integer: use int"),
    ({"train.learning_rate": {"int": [1, 4]}}, "int needs a key that is an integer; the key is a number: use float"),
    ({"train.batch_size": {"choice": [0, 128]}}, "gmf: tune.train.batch_size must be > 0, got 0"),
    ({"train.optimizer": {"choice": ["adam", "lion"]}}, "tune.train.optimizer must be one of adam, adamw"),
    ({"train.decay_rate": {"float": [0.5, 1.5]}}, "gmf: tune.train.decay_rate must be in (0, 1], got 1.5"),
    ({"model.embedding_size": {"choice": []}}, "choice must be a non-empty list"),
    ({"model.embedding_size": {"choice": [16, 16]}}, "choice lists a value twice"),
    ({"model.embedding_size": {"choice": [[16], [32]]}}, "choice values must be booleans, numbers or strings"),
    (5, "section 'tune' must map dotted config keys"),
])
@pytest.mark.smoke
def test_a_bad_tune_section_is_refused_naming_the_key(tmp_path, section, message):
    with pytest.raises(ConfigError) as err:
        kzoo.get_config("gmf", config_path=str(_with_tune(tmp_path, section)))
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1


def test_the_pruner_names_are_optunas_pruners():
    kinds = {name: type(study_lib.make_pruner(name, 5)) for name in schema.TUNE_PRUNERS}
    assert kinds == {"median": optuna.pruners.MedianPruner, "hyperband": optuna.pruners.HyperbandPruner,
                     "none": optuna.pruners.NopPruner}


@pytest.mark.parametrize("epochs,warm_up", [(30, 10), (4, 1), (1, 1)])
def test_the_median_pruner_lets_a_trial_run_a_third_of_its_epochs(epochs, warm_up):
    study = optuna.create_study(direction="maximize", pruner=study_lib.make_pruner("median", epochs))
    for _ in range(2):  # two good trials finished
        good = study.ask()
        for step in range(epochs):
            good.report(1.0, step)
        study.tell(good, 1.0)
    bad = study.ask()
    stopped_at = None
    for step in range(epochs):
        bad.report(0.0, step)
        if bad.should_prune():
            stopped_at = step
            break
    assert stopped_at == (warm_up if warm_up < epochs else None)


class PruneAlways(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return True


def test_the_last_epoch_of_a_trial_is_reported_but_never_pruned():
    from kzoo.tuning.objective import PruneTrial

    study = optuna.create_study(direction="maximize", pruner=PruneAlways())
    for epochs, pruned_at in ((3, 0), (1, None)):
        trial = study.ask()
        callback, = PruneTrial(trial, "val_accuracy").callbacks(None, {}, 0)
        callback.set_params({"epochs": epochs})
        stopped = None
        for epoch in range(epochs):
            try:
                callback.on_epoch_end(epoch, {"loss": 0.5, "val_accuracy": 0.1 * (epoch + 1)})
            except optuna.TrialPruned:
                stopped = epoch
                break
        assert stopped == pruned_at
        assert study._storage.get_trial(trial._trial_id).intermediate_values == {
            epoch: pytest.approx(0.1 * (epoch + 1)) for epoch in range((stopped if stopped is not None else epochs - 1) + 1)}


class PruneTrialOne(optuna.pruners.BasePruner):
    """Stops trial 1 at its first report, so the test knows which trial the pruner stops."""

    def prune(self, study, trial):
        return trial.number == 1


@pytest.fixture
def test_split_spy(monkeypatch):
    """Records every read of the test split: the bundle's `test` and a ranking evaluation of split 'test'."""
    touched = []
    ranks, scores = RankingEvaluator.ranks, RankingEvaluator.candidate_scores

    def spy(method):
        def recorded(self, model, split="test", *args, **kwargs):
            touched.append(f"{method.__name__}({split})") if split == "test" else None
            return method(self, model, split, *args, **kwargs)
        return recorded

    monkeypatch.setattr(RankingEvaluator, "ranks", spy(ranks))
    monkeypatch.setattr(RankingEvaluator, "candidate_scores", spy(scores))

    class Bundle:
        def __init__(self, bundle):
            object.__setattr__(self, "_bundle", bundle)

        def __getattr__(self, name):
            if name == "test":
                touched.append("bundle.test")
            return getattr(self._bundle, name)

        def __setattr__(self, name, value):
            setattr(self._bundle, name, value)

    load_data = runner.load_data
    monkeypatch.setattr(runner, "load_data", lambda *a, **k: Bundle(load_data(*a, **k)))
    return touched


def test_the_spy_sees_a_normal_run_read_the_test_split(tmp_path, test_split_spy):
    runner.train("gmf", tiny=True, data="synthetic", epochs=1, batch_size=256, overrides=FAST, output=str(tmp_path / "run"),
               export=False, verbose=0)
    assert "ranks(test)" in test_split_spy


def test_a_tiny_study_honours_the_space_prunes_and_writes_a_loadable_best_config(tmp_path, monkeypatch,
                                                                                   test_split_spy):
    monkeypatch.setattr(study_lib, "make_pruner", lambda name, epochs: PruneTrialOne())
    directory = tmp_path / "study"
    summary = tune(TuneRequest(TrainRequest("gmf", tiny=True, data="synthetic", epochs=2, overrides=FAST), trials=4,
                               study=str(directory)))
    assert test_split_spy == []  # no trial read the test split
    assert summary["trials"] == {"finished": 3, "pruned": 1}
    rows = json.loads((directory / "trials.json").read_text())
    space = kzoo.get_config("gmf")["tune"]
    for row in rows:
        assert set(row["params"]) == set(space)
        for key, spec in space.items():
            (kind, given), = spec.items()
            value = row["params"][key]
            assert value in given if kind == "choice" else given[0] <= value <= given[1], (key, value)
    pruned = rows[1]
    assert pruned["status"] == "pruned" and pruned["epochs"] == 1 and len(pruned["per_epoch"]) == 1
    assert not (Path(pruned["run_dir"]) / "model.keras").exists()
    assert all(len(r["per_epoch"]) == 2 and r["seconds"] > 0 for r in rows if r["status"] == "finished")
    # Trial 0 is the config's own values where they lie in the space (tiny's embedding_size 8 does not).
    tiny = kzoo.get_config("gmf", tiny=True)
    assert rows[0]["params"]["train.learning_rate"] == tiny["train"]["learning_rate"]
    assert rows[0]["params"]["data.num_negatives"] == tiny["data"]["num_negatives"]
    # Each trial's run says it was not tested; the best is the best finished trial's validation figure.
    metrics = json.loads((Path(rows[0]["run_dir"]) / "metrics.json").read_text())
    assert metrics["test"] is None and metrics["refit"] is None
    best = max((r for r in rows if r["status"] == "finished"), key=lambda r: r["value"])
    assert summary["best"]["number"] == best["number"] and best["value"] == max(best["per_epoch"])
    config = kzoo.get_config("gmf", config_path=summary["best_config"])
    for key, value in best["params"].items():
        section, _, leaf = key.partition(".")
        assert config[section][leaf] == value
    assert config["train"]["refit"] is True  # the entry's own; trials ran without it
    assert {"metric_by_trial", "metric_by_epoch", "param_importances"} <= {
        name for name, path in summary["plots"].items() if Path(path).is_file()}
    assert (directory / "trials.csv").read_text().startswith("trial,status,value")


def test_a_diverged_trial_is_failed_not_best(tmp_path):
    path = _with_tune(tmp_path, {"train.learning_rate": {"choice": [0.002, 1.0e30]}})
    request = TuneRequest(TrainRequest("gmf", config_path=str(path), tiny=True, data="synthetic", epochs=2,
                                       overrides=[*FAST, "train.batch_size=256"]),
                          trials=2, study=str(tmp_path / "study"), pruner="none")
    study = study_lib.open_study(request, study_lib.base_config(request))
    study.enqueue_trial({"train.learning_rate": 1.0e30})
    study.enqueue_trial({"train.learning_rate": 0.002})
    summary = tune(request)
    assert summary["trials"] == {"diverged": 1, "finished": 1}
    rows = json.loads((tmp_path / "study" / "trials.json").read_text())
    assert rows[0]["state"] == "fail" and rows[0]["value"] is None
    assert "loss became nan in epoch 1" in rows[0]["reason"] and "Lower the learning rate" in rows[0]["reason"]
    assert summary["best"]["number"] == 1


@pytest.mark.parametrize("case", ["bad space", "no space", "other settings"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case):
    from kzoo.cli import tune as tune_tool

    directory = tmp_path / "study"
    argv = ["--model", "gmf", "--trials", "2", "--study", str(directory), "--tiny", "--data", "synthetic"]
    if case == "bad space":
        argv += ["--config", str(_with_tune(tmp_path, {"model.dropout": {"float": [0.1, 0.5]}}))]
        fragment = "gmf: tune: unknown config key 'model.dropout'"
    elif case == "no space":
        argv[1] = "cnn"
        fragment = "cnn has no tune: section to search"
    else:  # a study resumed with another space is refused before a trial runs
        study_lib.open_study(TuneRequest(TrainRequest("gmf", tiny=True), trials=2, study=str(directory)),
                             study_lib.base_config(TuneRequest(TrainRequest("gmf", tiny=True), trials=2)))
        argv += ["--set", "train.epochs=2"]
        fragment = "study 'gmf' was started with other settings: overrides="
    before = sorted(p.name for p in directory.iterdir()) if directory.exists() else None
    with pytest.raises(SystemExit) as exit_:
        tune_tool.run(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and fragment in err, err
    assert (sorted(p.name for p in directory.iterdir()) if directory.exists() else None) == before


def test_without_optuna_the_tool_says_which_extra_to_install(monkeypatch, capsys):
    import importlib.util

    from kzoo.cli import tune as tune_cli

    real = importlib.util.find_spec
    monkeypatch.setattr(tune_cli.importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    with pytest.raises(SystemExit) as stop:
        tune_cli.main(["--model", "gmf", "--trials", "4"])
    assert stop.value.code == 2
    assert 'kzoo-tune needs optuna, which is not installed: pip install -e ".[tune]"' in capsys.readouterr().err


def test_ctrl_c_in_a_trial_is_one_line_exit_130_and_the_same_command_then_runs_it_again(tmp_path, capfd, monkeypatch):
    from kzoo import training
    from kzoo.cli import tune as tune_tool
    from kzoo.plugin import RunPlugin

    class CtrlC(RunPlugin):
        def callbacks(self, net, config, total_steps):
            class Interrupt(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    raise KeyboardInterrupt

            return [Interrupt()]

    real_train, calls = training.train, []

    def train_interrupting_the_second_trial(request, plugins=()):
        calls.append(request.output)
        return real_train(request, plugins=[*plugins, *([CtrlC()] if len(calls) == 2 else [])])

    directory = tmp_path / "study"
    argv = ["--model", "gmf", "--trials", "2", "--study", str(directory), "--tiny", "--data", "synthetic",
            "--epochs", "1", "--pruner", "none", *[a for o in FAST for a in ("--set", o)]]
    monkeypatch.setattr(training, "train", train_interrupting_the_second_trial)
    logged = logging.Handler()  # Optuna's own handler writes to the stream it found at import
    records = []
    logged.emit = records.append
    logging.getLogger("optuna").addHandler(logged)
    try:
        with pytest.raises(SystemExit) as exit_:
            tune_tool.run(argv)
    finally:
        logging.getLogger("optuna").removeHandler(logged)
    assert [r.getMessage() for r in records if r.exc_info or "failed" in r.getMessage()] == []
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.strip() and not line.startswith("kzoo")]
    assert exit_.value.code == 130 and "Traceback" not in err, err
    assert errors == ["error: kzoo-tune interrupted: 1 of 2 trials done, trial 1 queued to run again; the same "
                      "command continues the study"], err
    monkeypatch.setattr(training, "train", real_train)
    with pytest.raises(SystemExit) as exit_:
        tune_tool.run(argv)
    assert exit_.value.code == 0, capfd.readouterr().err
    rows = json.loads((directory / "trials.json").read_text())
    assert [r["status"] for r in rows] == ["finished", "interrupted", "finished"]
    assert rows[2]["params"] == rows[1]["params"]  # the interrupted trial's values, run again first


def test_a_tune_only_file_is_a_search_space_over_the_entrys_own_config(tmp_path):
    snippet = tmp_path / "space.yaml"  # README's `tune:` snippet, saved on its own
    snippet.write_text("tune:\n  train.learning_rate: {log_float: [0.0005, 0.01]}\n"
                       "  model.embedding_size: {choice: [16, 32, 64, 128]}\n")
    config, default = kzoo.get_config("gmf", config_path=str(snippet), tiny=True), kzoo.get_config("gmf", tiny=True)
    assert config["tune"] == {"train.learning_rate": {"log_float": [0.0005, 0.01]},
                              "model.embedding_size": {"choice": [16, 32, 64, 128]}}
    assert {k: v for k, v in config.items() if k != "tune"} == {k: v for k, v in default.items() if k != "tune"}
    snippet.write_text("tune:\n  train.learnig_rate: {log_float: [0.0005, 0.01]}\n")
    with pytest.raises(ConfigError, match="Did you mean 'train.learning_rate'"):
        kzoo.get_config("gmf", config_path=str(snippet))
    snippet.write_text("tune:\n  train.learning_rate: {log_float: [0.0005, 0.01]}\ntrain:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match="missing section"):  # more than a space: a whole config, as before
        kzoo.get_config("gmf", config_path=str(snippet))


def test_a_directory_as_config_is_said_to_be_a_directory(tmp_path, capsys):
    from kzoo.cli import train as train_tool

    with pytest.raises(ConfigError, match="is a directory"):
        kzoo.get_config("gmf", config_path=str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        train_tool.main(["--model", "gmf", "--config", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err == f"error: --config: {tmp_path} is a directory; give a file\n"
