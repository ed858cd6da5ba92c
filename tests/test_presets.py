"""Presets: run → preset → `kzoo.load` in a fresh process; the card; `--init-from`; publish; one-line refusals."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kzoo
from kzoo.presets import PresetError, load, open_preset, read_preset, write_preset
from kzoo.presets import hub
from kzoo.presets.card import read_front_matter
from kzoo.presets.files import file_records
from kzoo.run_dir import RunDir
from kzoo.training import train

ROOT = Path(__file__).resolve().parent.parent
# Three tasks in the default run (~60 s on 2 busy cores); every entry, translation included, with -m slow.
REPRESENTATIVE = ["mlp", "lstm", "gmf"]

# Loads each preset in a process that never saw the runs, and predicts the saved example batch.
CHILD = """
import json, sys
import numpy as np
import kzoo
for preset, inputs, out in json.loads(sys.argv[1]):
    arrays = dict(np.load(inputs))
    x = arrays.pop("__array__") if "__array__" in arrays else arrays
    model, preprocessor = kzoo.load(preset)
    np.save(out, model.predict(x, verbose=0))
    print(preset, type(preprocessor).__name__)
"""


def child_env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1")
    return env


def package_entries(names, root: Path) -> dict:
    """Train each entry (tiny, synthetic), write its preset, record its outputs; load them all in one fresh process."""
    cases = {}
    for name in names:
        run = root / "runs" / name
        train(name, tiny=True, data="synthetic", output=str(run), export=False, verbose=0)
        preset = write_preset(run, root / "presets" / name)
        model, _ = load(run)  # compiled the way a preset is, so the two predict alike
        x, _ = kzoo.example_batch(RunDir(run).config())
        inputs = root / f"{name}-inputs.npz"
        np.savez(inputs, **(x if isinstance(x, dict) else {"__array__": x}))
        cases[name] = {"run": run, "preset": preset, "inputs": inputs, "out": root / f"{name}-out.npy",
                       "expected": model.predict(x, verbose=0), "metrics": RunDir(run).metrics()}
    hidden = root / "runs-hidden"
    (root / "runs").rename(hidden)  # the fresh process has no run directory to lean on
    try:
        jobs = [[str(c["preset"]), str(c["inputs"]), str(c["out"])] for c in cases.values()]
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs)], cwd=root, env=child_env(),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        hidden.rename(root / "runs")
    return cases


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    return package_entries(REPRESENTATIVE, tmp_path_factory.mktemp("presets"))


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_a_preset_loads_in_a_fresh_process_with_identical_outputs(presets, name):
    case = presets[name]
    np.testing.assert_array_equal(np.load(case["out"]), case["expected"])


@pytest.mark.slow
def test_every_entry_round_trips_through_a_preset(tmp_path):
    """The registry-wide battery (every registered entry, ~2 minutes)."""
    cases = package_entries(kzoo.list_models(), tmp_path)
    for name, case in cases.items():
        np.testing.assert_array_equal(np.load(case["out"]), case["expected"], err_msg=name)


def test_the_card_carries_the_metrics_of_metrics_json(presets):
    for name, case in presets.items():
        test = case["metrics"]["test"]
        for card in (case["preset"] / "README.md", case["run"] / "README.md"):
            text = card.read_text(encoding="utf-8")
            header = read_front_matter(text)
            assert header["library_name"] == "keras" and name in header["tags"]
            results = header["model-index"][0]["results"][0]
            assert {m["type"]: m["value"] for m in results["metrics"]} == test
            assert "SYNTHETIC" in text.split("## What it is")[0] and "## Limitations" in text
            for section in ("## Intended use", "## Training data and command", "## Evaluation results",
                            "## Size and serving latency"):
                assert section in text
        assert json.loads((case["preset"] / "metadata.json").read_text())["test"] == test


def test_the_preset_holds_config_weights_preprocessing_and_metadata(presets):
    case = presets["lstm"]
    preset = read_preset(case["preset"])
    assert preset.entry == "lstm" and preset.fitted["model"] == ["vocab_size"]
    assert set(preset.fitted["data"]) == {"tokenizer", "sequence_length", "truncation"}
    run_files = file_records(case["run"] / "preprocessing")
    assert {k: v for k, v in file_records(preset.preprocessing_dir).items()} == run_files
    meta = preset.metadata
    assert meta["parameters"] == case["metrics"]["parameters"] and meta["data_source"]["kind"] == "synthetic"
    assert meta["data"]["sizes"] == case["metrics"]["data"]["sizes"]
    assert {"kzoo", "keras", "tensorflow"} <= set(meta["versions"]) and meta["created"]
    assert not (presets["mlp"]["preset"] / "preprocessing").exists()  # image entries have no preprocessor


def test_build_checks_the_entry_and_keeps_the_architecture(presets):
    model, preprocessor = kzoo.build("lstm", preset=presets["lstm"]["preset"], **{"train.learning_rate": 0.01})
    assert model.compiled and preprocessor.vocabulary_size == read_preset(presets["lstm"]["preset"]).config["model"][
        "vocab_size"]
    with pytest.raises(kzoo.ConfigError, match="is a preset of 'lstm', not of 'cnn'"):
        kzoo.build("cnn", preset=presets["lstm"]["preset"])
    with pytest.raises(kzoo.ConfigError, match="cannot change a preset's architecture"):
        kzoo.build("lstm", preset=presets["lstm"]["preset"], units=64)


def test_a_missing_or_changed_file_is_refused_in_one_line(presets, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(presets["lstm"]["preset"], broken)
    (broken / "preprocessing" / "vocabulary.txt").unlink()
    with pytest.raises(PresetError, match=r"incomplete: preprocessing/vocabulary.txt missing"):
        load(broken)
    changed = tmp_path / "changed"
    shutil.copytree(presets["lstm"]["preset"], changed)
    (changed / "preprocessing" / "vocabulary.txt").write_text("x\ny\n", encoding="utf-8")
    with pytest.raises(PresetError, match="differs from the file the preset was written with"):
        load(changed)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PresetError, match="lacks config.json"):
        load(tmp_path / "empty")


def test_a_keras_hub_preset_is_recognised(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"module": "keras_hub.src.models.bert.bert_backbone",
                                                      "class_name": "BertBackbone", "config": {},
                                                      "registered_name": "keras_hub>BertBackbone"}))
    with pytest.raises(PresetError, match=r"is a keras-hub preset \(keras_hub>BertBackbone\), not a kzoo one"):
        load(tmp_path)


def test_an_offline_hub_handle_fails_at_once_in_one_line(monkeypatch):
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    with pytest.raises(PresetError, match=r"cannot fetch the preset 'hf://kzoo-test/no-such-preset'.*not reachable"):
        load("hf://kzoo-test/no-such-preset")
    with pytest.raises(PresetError, match=r"'kaggle://kzoo-test/none/keras/tiny'.*not reachable"):
        load("kaggle://kzoo-test/none/keras/tiny")
    with pytest.raises(PresetError, match="hf://org/name"):
        load("hf://just-a-name")


def run_tool(module, argv, capsys):
    """(exit status, stderr) of a tool's console-script entry point run in this process."""
    with pytest.raises(SystemExit) as exit_:
        module.run(argv)
    return exit_.value.code, capsys.readouterr().err


def test_export_preset_refuses_bad_input_in_one_line_and_writes_nothing(presets, tmp_path, capsys):
    from kzoo.cli import export

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    for argv in ([str(presets["lstm"]["run"]), "--preset", str(taken)],
                 [str(tmp_path / "no-run"), "--preset", str(tmp_path / "new")]):
        code, err = run_tool(export, argv, capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"] and os.listdir(taken) == ["file"]
    code, err = run_tool(export, [str(presets["mlp"]["run"]), "--preset", str(tmp_path / "mlp")], capsys)
    assert code == 0 and read_preset(tmp_path / "mlp").entry == "mlp"


def test_train_init_from_refuses_a_wrong_entry_a_missing_file_or_an_offline_handle(presets, tmp_path, capsys,
                                                                                     monkeypatch):
    from kzoo.cli import train as train_tool

    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    broken = tmp_path / "broken"
    shutil.copytree(presets["lstm"]["preset"], broken)
    (broken / "model.weights.h5").unlink()
    for preset, says in ((presets["mlp"]["preset"], "is a preset of 'mlp', not of 'lstm'"),
                         (broken, "incomplete: model.weights.h5 missing"),
                         ("hf://kzoo-test/no-such-preset", "not reachable")):
        code, err = run_tool(train_tool, ["--model", "lstm", "--tiny", "--data", "synthetic", "--init-from",
                                          str(preset), "--output", str(tmp_path / "run")], capsys)
        assert code == 2 and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "run").exists()


def test_the_train_tool_with_an_offline_hub_handle_exits_2_in_one_line(tmp_path):
    """A real process: the HF_HUB_OFFLINE way (no probe at all) and nothing written."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--model", "lstm", "--tiny",
                           "--init-from", "hf://kzoo-test/no-such-preset", "--output", str(tmp_path / "run")],
                          cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "hf://kzoo-test/no-such-preset" in lines[0] and "no copy is cached" in lines[0]
    assert not (tmp_path / "run").exists()


def test_init_from_fine_tunes_from_the_preset_weights_and_vocabulary(presets, tmp_path):
    from kzoo.plugin import RunPlugin

    preset = presets["lstm"]["preset"]
    x, _ = kzoo.example_batch(read_preset(preset).config)
    expected = load(preset)[0].predict(x, verbose=0)

    class BeforeFit(RunPlugin):
        """Predicts the example batch with the model `fit` is about to train (weights already initialised)."""

        def callbacks(self, net, config, total_steps):
            self.outputs = net.predict(x, verbose=0)
            return []

    probe = BeforeFit()
    out = tmp_path / "tuned"
    metrics = train("lstm", tiny=True, data="synthetic", output=str(out), verbose=0, plugins=[probe],
                    overrides={"train.init_from": str(preset), "runtime.seed": 3})
    np.testing.assert_allclose(probe.outputs, expected, rtol=1e-6, atol=1e-6)
    assert metrics["status"] == "finished" and metrics["command"] is None  # pytest is not a kzoo tool
    assert (out / "preprocessing" / "vocabulary.txt").read_bytes() == (
        preset / "preprocessing" / "vocabulary.txt").read_bytes()
    card = (out / "README.md").read_text(encoding="utf-8")  # written by the ModelCard plug-in after the export
    assert f"fine-tuned from the preset `{preset}`" in card
    assert {m["type"]: m["value"] for m in read_front_matter(card)["model-index"][0]["results"][0]["metrics"]} == \
        RunDir(out).metrics()["test"]


def test_init_from_refuses_another_architecture_in_one_line(presets, tmp_path):
    with pytest.raises(kzoo.ConfigError, match=r"was trained with model.units=8, .*--set KEY=VALUE") as err:
        train("lstm", tiny=True, data="synthetic", output=str(tmp_path / "run"), verbose=0,
              overrides={"train.init_from": str(presets["lstm"]["preset"]), "model.units": 16})
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()
    with pytest.raises(kzoo.ConfigError, match=r"data.sequence_length=12"):
        train("lstm", tiny=True, data="synthetic", output=str(tmp_path / "run"), verbose=0,
              overrides={"train.init_from": str(presets["lstm"]["preset"]), "data.sequence_length": 16})


def test_publish_validates_first_and_fails_offline_in_one_line(presets, tmp_path, capsys, monkeypatch):
    from kzoo.cli import publish as publish_tool
    from kzoo.presets.publish import publish, validate

    preset = presets["gmf"]["preset"]
    before = file_records(preset)
    assert validate(preset).entry == "gmf"
    code, err = run_tool(publish_tool, [str(preset), "--check"], capsys)
    assert code == 0
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)
    from kzoo.presets import publish as publish_module

    monkeypatch.setattr(publish_module, "reachable", lambda *a, **k: False)
    for to, says in (("hf://kzoo-test/gmf", "huggingface.co is not reachable"),
                     ("kaggle://kzoo-test/gmf/keras/tiny", "api.kaggle.com is not reachable"),
                     ("s3://bucket/gmf", "publish to hf://org/name or kaggle://")):
        code, err = run_tool(publish_tool, [str(preset), "--to", to], capsys)
        assert code == 2 and err.count("\n") == 1 and says in err, err
    assert file_records(preset) == before and sorted(p.name for p in preset.iterdir()) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5", "preprocessing"]
    broken = tmp_path / "broken"
    shutil.copytree(preset, broken)
    (broken / "preprocessing" / "item_ids.txt").unlink()
    with pytest.raises(PresetError, match="incomplete: preprocessing/item_ids.txt missing"):
        publish(broken, "hf://kzoo-test/gmf")


def test_publish_offline_really_fails_fast_in_a_process(presets, tmp_path):
    """No monkeypatching: HF_HUB_OFFLINE (set by child_env) refuses before any connection."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "publish.py"), str(presets["mlp"]["preset"]),
                           "--to", "hf://kzoo-test/mlp"], cwd=tmp_path, env=child_env(), capture_output=True,
                          text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "cannot publish to 'hf://kzoo-test/mlp'" in lines[0] and "nothing was uploaded" in lines[0]


def test_the_command_is_recorded_only_for_kzoo_tools():
    from kzoo.presets.metadata import recorded_command

    assert recorded_command(["/venv/bin/kzoo-train", "--model", "lstm", "--set", "a=b c"]) == \
        "kzoo-train --model lstm --set 'a=b c'"
    assert recorded_command(["tools/train.py", "--model", "lstm"]) == "python tools/train.py --model lstm"
    assert recorded_command(["/usr/bin/pytest", "-q"]) is None


def test_hub_handles_are_parsed_strictly():
    assert hub._hf_repo("hf://org/name@v1") == ("org/name", "v1")
    assert hub._kaggle_handle("kaggle://me/lstm/keras/tiny/2") == "me/lstm/keras/tiny/2"
    for bad in ("hf://org/name/extra", "kaggle://me/lstm"):
        with pytest.raises(PresetError, match="handle is"):
            hub.resolve_handle(bad)
    with pytest.raises(PresetError, match="a preset is a local directory"):
        hub.resolve_handle("s3://bucket/preset")


def test_local_files_of_the_model_section_are_not_carried(tmp_path):
    """`model.pretrained_gmf` / a keras-hub `model.preset` only initialised weights the preset holds anyway."""
    from kzoo.presets.writer import portable_config

    (tmp_path / "gmf.keras").write_bytes(b"")
    config = kzoo.get_config("neumf", {"model.pretrained_gmf": str(tmp_path / "gmf.keras")})
    portable, dropped = portable_config(config)
    assert dropped == {"pretrained_gmf": str(tmp_path / "gmf.keras")} and portable["model"]["pretrained_gmf"] == ""
    assert portable["train"] == config["train"] and config["model"]["pretrained_gmf"]  # the run's config unchanged
