"""The tools answer `--help` and bad flags before TensorFlow loads, hide its start-up lines unless
`--verbose`, list and describe the entries, and suggest the key or entry meant."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import kzoo
from kzoo.cli import common, quiet
from kzoo.cli import train as train_tool

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("train", "distill", "evaluate", "export", "publish", "predict", "benchmark", "data_benchmark", "launch_local",
         "tune", "serve")
HEAVY = ("tensorflow", "keras", "tensorflow_datasets", "keras_hub", "tensorflow_text", "jax")
NOISE_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796165868.966122   24510 port.cc:153] oneDNN custom operations are on. You may see ...",
    "I0000 00:00:1796165868.966555   24510 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    "E0000 00:00:1796166313.012733    1625 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the flags.",
]
NOISE_FRAGMENTS = ("absl::InitializeLog", "oneDNN", "cudart_stub", "cuda_platform", "cpu_feature_guard",
                   "Assets written")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a new user's shell
    return dict(env, PYTHONPATH=str(ROOT), **extra)


@pytest.mark.smoke
@pytest.mark.parametrize("tool", TOOLS)
def test_help_and_a_bad_flag_answer_without_importing_tensorflow(tool):
    script = f"""
import sys
from kzoo.cli.{tool} import main
codes = []
for argv in (["--help"], ["--no-such-flag"]):
    try:
        main(argv)
    except SystemExit as exit_:
        codes.append(exit_.code)
print(codes, sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.stdout.startswith("usage: "), proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "[0, 2] []", proc.stderr


def test_user_error_types_are_kzoo_errors_and_missing_paths():
    assert all(issubclass(t, Exception) for t in common.USER_ERRORS)
    assert all(issubclass(t, common.USER_ERRORS) for t in (kzoo.ConfigError, kzoo.UnknownModelError, FileNotFoundError))


@pytest.mark.smoke
@pytest.mark.parametrize("verbose", [False, True])
def test_the_start_up_filter_drops_only_tensorflows_start_up_lines(verbose):
    kept = ["W0000 00:00:1.2  7 some_module.cc:12] a warning that matters", "UserWarning: check your data",
            "error: a user's mistake"]
    script = f"""
import os, sys
from kzoo.cli.quiet import framework_start
with framework_start(verbose={verbose}):
    os.write(2, "\\n".join({NOISE_LINES + kept!r}).encode() + b"\\n")
    print("from python", file=sys.stderr)
print("after the window", file=sys.stderr)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=60)
    lines = proc.stderr.splitlines()
    assert [line for line in lines if line in NOISE_LINES] == ([] if not verbose else NOISE_LINES)
    assert all(line in lines for line in kept + ["from python", "after the window"]), proc.stderr
    assert all(quiet.is_noise(line) for line in NOISE_LINES) and not any(quiet.is_noise(line) for line in kept)


@pytest.mark.parametrize("verbose", [False, True])
def test_a_common_tf_cpp_min_log_level_of_2_still_hides_tensorflows_error_lines_mid_run(verbose):
    # A bool graph on a CPU without AVX-512 logs "E0000 ... util.cc] oneDNN supports DT_BOOL only ...",
    # an ERROR line that level 2 shows, long after the start-up window.
    script = f"""
from kzoo.cli.quiet import framework_start
with framework_start(verbose={verbose}):
    import tensorflow as tf

@tf.function
def masked_sum(x):
    mask = tf.not_equal(x, 0)
    both = tf.logical_and(mask, tf.transpose(mask))  # a bool op oneDNN would take
    return tf.reduce_sum(tf.cast(both, tf.float32))

print(masked_sum(tf.constant([[1, 0], [2, 3]])).numpy())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=_env(TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "2.0", proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("E0000")]
    if verbose:  # the user's own level 2 applies: the line the quiet mode hides is really there
        if not any("oneDNN supports DT_BOOL" in line for line in errors):
            pytest.skip("TensorFlow logs no oneDNN DT_BOOL line on this CPU")
    else:
        assert errors == [], proc.stderr


def _train_quietly(tmp_path, *args):
    # The root logger at INFO (as in a notebook, or a user's logging set-up) is what shows TensorFlow's
    # "Assets written to ..." INFO line at export.
    script = "import logging; logging.basicConfig(level=logging.INFO)\nfrom kzoo.cli.train import run; run()"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(), timeout=600)


@pytest.mark.slow  # a subprocess training with export; the start-up filter has its own fast test
def test_a_tiny_run_prints_no_framework_noise_and_a_mistake_still_gets_its_line(tmp_path):
    proc = _train_quietly(tmp_path, "--model", "MLP", "--tiny", "--data", "synthetic",
                          "--set", "data.synthetic_size=200", "--output", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "export" / "1" / "saved_model.pb").is_file()
    for fragment in NOISE_FRAGMENTS:
        assert fragment not in proc.stdout + proc.stderr, fragment
    assert proc.stdout.startswith("kzoo: run directory")

    proc = _train_quietly(tmp_path, "--model", "mlp", "--tiny", "--data", "synthetic",
                          "--set", "model.hidden_unit=[8]", "--output", str(tmp_path / "bad"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown config key 'model.hidden_unit'"), proc.stderr
    assert "Did you mean 'model.hidden_units'?" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_list_models_shows_task_dataset_parameters_and_reference(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert train_tool.main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["entry", "task", "dataset", "parameters", "reference"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert sorted(rows) == kzoo.list_models()
    lstm = rows["lstm"]
    parameters = kzoo.build("lstm", compile=False).count_params()
    assert "(lstm_sentiment)" in lstm and "text_classification" in lstm and "imdb_reviews" in lstm
    assert f"{parameters:,}" in lstm and "accuracy 0.8428" in lstm
    assert "hr@10 0.66" in rows["neumf"] and "movielens/100k-ratings" in rows["neumf"]
    assert list(tmp_path.iterdir()) == []  # nothing cached on disk


def test_describe_prints_the_resolved_config_with_each_keys_meaning(tmp_path, capsys):
    assert train_tool.main(["--describe", "LSTM", "--set", "model.units=64"]) == 0
    text = capsys.readouterr().out
    expected = kzoo.get_config("lstm", ["model.units=64"])
    assert yaml.safe_load(text) == expected
    lines = text.splitlines()
    assert lines[0].startswith("# lstm:")
    assert any(line.startswith("  units: 64 ") and line.endswith("# an integer > 0") for line in lines)
    assert any(line.startswith("  pooling: max ") and line.endswith("# one of: last, max, mean") for line in lines)
    assert any(line.startswith("  sequence_length: 512 ")
               and line.endswith("# token ids per example (padded or cut); an integer > 0") for line in lines)
    assert any("dropout: 0.5 " in line and line.endswith("# a number in [0, 1)") for line in lines)
    described = tmp_path / "lstm.yaml"
    described.write_text(text, encoding="utf-8")
    assert kzoo.get_config("lstm", config_path=str(described)) == expected  # usable as --config


def test_train_without_a_model_says_what_to_give(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_tool.main([])
    assert exit_info.value.code == 2 and "--model (or --list-models, --describe NAME)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def text_export(tmp_path_factory):
    """A SavedModel with a `serving_default(text)` as kzoo's text exports have (a label per text)."""
    import tensorflow as tf

    class Classifier(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            return {"label": tf.cast(tf.strings.length(text), tf.int64) % 2}

    module = Classifier()
    version = tmp_path_factory.mktemp("export") / "1"
    tf.saved_model.save(module, str(version), signatures={"serving_default": module.serve})
    return version.parent


def _predict(export_dir, *flags):
    # The root logger at INFO, as in _train_quietly: TensorFlow's INFO lines would show through it.
    script = "import logging; logging.basicConfig(level=logging.INFO)\nfrom kzoo.cli.predict import run; run()"
    return subprocess.run([sys.executable, "-c", script, str(export_dir), "--text", "a fine film", *flags],
                          capture_output=True, text=True, env=_env(), timeout=120)


@pytest.mark.parametrize("verbose", [False, True])
def test_predict_prints_no_framework_noise_unless_verbose(text_export, verbose):
    proc = _predict(text_export, *(["--verbose"] if verbose else []))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["predictions"] == [{"text": "a fine film", "label": 1}]
    noise = [line for line in proc.stderr.splitlines() if quiet.is_noise(line)]
    if verbose:
        assert noise, proc.stderr  # TensorFlow's start-up lines are shown, as asked
    else:
        assert noise == [] and not any(f in proc.stderr for f in NOISE_FRAGMENTS), proc.stderr
