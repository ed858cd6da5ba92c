"""Every tool refuses bad arguments (paths, flag combinations, entry names, ranges) in one line with exit
status 2, before TensorFlow is imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kzoo
from kzoo.cli import checks

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "tensorflow_datasets", "keras_hub", "tensorflow_text", "jax")
MISSING = "/no/such/path"

# (tool, argv, a fragment of the one error line)
BAD_ARGUMENTS = {
    "benchmark": [
        (["--model", "lstmm"], "unknown model 'lstmm'. Did you mean 'lstm'"),
        (["--model", "mlp", "--all"], "--model NAME or --all, not both"),
        (["--model", "mlp", "--seeds", "0"], "--seeds must be >= 1, got 0"),
        (["--model", "mlp", "--warmup-steps", "-1", "--vs-baseline"], "--warmup-steps must be >= 0"),
        (["--model", "lstm", "--speed", "--vs-baseline"], "--speed and --vs-baseline"),
        (["--model", "cnn", "--vs-baseline"], "hand-written baselines for lstm, transformer_cls, neumf only"),
        (["--model", "neumf", "--vs-baseline", "--max-train-examples", "10"], "text entries only"),
        (["--serving", MISSING], f"--serving: export folder {MISSING} does not exist"),
        (["--serving", ".", "--eval-data-dir", MISSING], f"--eval-data-dir: folder {MISSING} does not exist"),
        (["--eval-data-dir", "."], "give --serving EXPORT_DIR"),
        (["--model", "mlp", "--json", f"{MISSING}/out.jsonl"], "its folder does not exist"),
        (["--model", "mlp", "--data", MISSING], f"--data {MISSING}: no such file or folder"),
        ([], "give --model NAME or --all"),
        (["--steps", "many"], "invalid int value: 'many'"),
    ],
    "train": [
        (["--model", "lstmm"], "unknown model 'lstmm'"),
        (["--describe", "cnnn"], "--describe: unknown model 'cnnn'. Did you mean 'cnn'"),
        (["--model", "mlp", "--epochs", "0"], "--epochs must be >= 1"),
        (["--model", "mlp", "--batch-size", "-8"], "--batch-size must be >= 1"),
        (["--model", "mlp", "--strategy", "mirror"], "unknown strategy 'mirror'. Did you mean 'mirrored'?"),
        (["--model", "mlp", "--config", MISSING], f"--config: file {MISSING} does not exist"),
        (["--model", "mlp", "--data", MISSING], f"--data {MISSING}: no such file or folder"),
    ],
    "distill": [
        (["--teacher", MISSING, "--student", "cnn_small"], f"--teacher: run directory {MISSING} does not exist"),
        (["--teacher", ".", "--student", "cnn_smal"], "--student: unknown model 'cnn_smal'"),
        (["--teacher", ".", "--student", "cnn_small", "--seed", "-1"], "--seed must be >= 0"),
    ],
    "evaluate": [
        ([MISSING], "is not a finished run directory: it does not exist"),
        ([".", "--split", "dev"], "unknown split 'dev'; valid: train, val, test"),
        ([".", "--data", MISSING], f"--data {MISSING}: no such file or folder"),
    ],
    "export": [
        ([MISSING], "does not exist: pass a finished run directory or a .keras file inside one"),
        ([".", "--quantize", "fp3"], "unknown quantize mode 'fp3'; valid: int8"),
        ([".", "--format", "tflite"], "--format: unknown format 'tflite'; valid: savedmodel, litert, onnx"),
        ([".", "--format", "onnx", "--quantize", "int8"], "--quantize int8 is not available for onnx exports"),
    ],
    "data_benchmark": [
        (["--model", "mlpp"], "unknown model 'mlpp'. Did you mean 'mlp'"),
        (["--model", "mlp", "--batches", "0"], "--batches must be >= 1"),
    ],
    "launch_local": [
        (["--workers", "0", "--", "tools/train.py"], "--workers must be >= 1"),
        (["--threads", "0", "--", "tools/train.py"], "--threads must be >= 1"),
        (["--", "no_such_script.py"], "no_such_script.py: no such script"),
        ([], "give the command after --"),
    ],
    "tune": [
        (["--model", "gmff", "--trials", "4"], "--model: unknown model 'gmff'. Did you mean 'gmf'"),
        (["--model", "gmf", "--trials", "0"], "--trials must be >= 1, got 0"),
        (["--model", "gmf", "--trials", "4", "--workers", "0"], "--workers must be >= 1, got 0"),
        (["--model", "gmf", "--trials", "4", "--timeout", "0"], "--timeout must be > 0 minutes, got 0"),
        (["--model", "gmf", "--trials", "4", "--study", "redis://host/0"],
         "unknown database scheme 'redis'; valid: postgresql, postgresql+psycopg2, mysql"),
        (["--model", "gmf", "--trials", "4", "--study", "README.md"], "--study README.md: is a file"),
        (["--model", "gmf", "--trials", "4", "--study", "s", "--output", "o"], "with --study PATH, PATH is it"),
        (["--model", "gmf", "--trials", "4", "--pruner", "asha"], "invalid choice: 'asha'"),
        (["--model", "gmf"], "the following arguments are required: --trials"),
        (["--model", "gmf", "--trials", "4", "--config", MISSING], f"--config: file {MISSING} does not exist"),
    ],
    "predict": [
        ([MISSING, "--text", "x"], f"export directory '{MISSING}' does not exist"),
        ([".", "--text", "x"], "holds no SavedModel"),
    ],
}


@pytest.mark.parametrize("tool", sorted(BAD_ARGUMENTS))
def test_bad_arguments_get_one_line_and_exit_2_before_tensorflow_loads(tool, tmp_path):
    script = f"""
import contextlib, io, json, sys
from kzoo.cli.{tool} import main
results = []
for argv, _ in {BAD_ARGUMENTS[tool]!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    results.append([code, err.getvalue()])
print(json.dumps({{"results": results, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    if tool == "predict":  # "." must hold no SavedModel
        (tmp_path / "empty").mkdir()
    cwd = tmp_path / "empty" if tool == "predict" else ROOT
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["heavy"] == []
    for (argv, fragment), (code, err) in zip(BAD_ARGUMENTS[tool], report["results"]):
        assert code == 2, (argv, code, err)
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and fragment in err, (argv, err)


def test_the_entry_names_read_from_the_source_are_the_registrys():
    registered = {name: kzoo.get_entry(name).aliases for name in kzoo.list_models()}
    assert checks.shipped_entries() == registered
    assert checks.entry_name("LSTM_Sentiment") == "lstm" and checks.entry_name("nope") is None


def test_the_names_checked_before_tensorflow_are_the_librarys():
    from kzoo.cli import evaluate as evaluate_tool
    from kzoo.export import QUANTIZE_MODES
    from kzoo.training.evaluate import SPLITS

    assert evaluate_tool.SPLITS == SPLITS and QUANTIZE_MODES == ("int8",)
