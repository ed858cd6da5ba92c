"""Nothing stranded, nothing silent: hostile inputs end in one line, and a refusal leaves `--output` as it was.

The first cases are refused only after the run directory was made (by the data, build or fit
phase), then the corrected command runs on the same `--output`: a stranded `config.yaml` would make
it fail as "already holds a run".
"""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kzoo.cli import evaluate as evaluate_tool
from kzoo.cli import export as export_tool
from kzoo.cli import train as train_tool
from kzoo.run_dir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import tiny_run  # noqa: E402

TINY_MLP = ["--model", "mlp", "--tiny", "--data", "synthetic", "--no-export"]


def run_cli(argv, capsys, tool=train_tool):
    """`kzoo-train ARGV` (or another tool's) in this process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        tool.run(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def refused_in_one_line(code, err, fragment, status=2):
    """Exit `status`, no traceback, one `error:` line holding `fragment` (notes on `kzoo:` lines may precede it)."""
    lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("kzoo")]
    return code == status and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    return tiny_run(tmp_path_factory, "mlp", export=False)


def test_a_data_error_found_after_the_folder_was_made_leaves_no_folder(tmp_path, capsys):
    objects = np.empty(4, dtype=object)
    objects[:] = [1, 2, 3, 4]
    bad = tmp_path / "objects.npz"
    np.savez(bad, x_train=objects, y_train=np.zeros(4, int), x_test=objects, y_test=np.zeros(4, int))
    out = tmp_path / "deep" / "run"  # its parent is new too: both go
    code, _, err = run_cli(["--model", "mlp", "--tiny", "--data", str(bad), "--output", str(out)], capsys)
    assert refused_in_one_line(code, err, "x_train is an object (pickled) array"), err
    assert not (tmp_path / "deep").exists()
    code, _, err = run_cli([*TINY_MLP, "--output", str(out)], capsys)
    assert code == 0 and RunDir(out).is_finished, err


def test_a_prune_from_run_refused_at_build_leaves_no_folder(source_run, tmp_path, capsys):
    out = tmp_path / "pruned"
    prune = ["--set", f"prune.from_run={source_run}", "--set", "prune.target_sparsity=0.5"]
    code, _, err = run_cli([*TINY_MLP, "--output", str(out), *prune, "--set", "model.hidden_units=[4, 4]"], capsys)
    assert refused_in_one_line(code, err, "do not fit this model"), err
    assert not out.exists()
    code, _, err = run_cli([*TINY_MLP, "--output", str(out), *prune], capsys)
    assert code == 0 and RunDir(out).is_finished, err


def test_a_prune_exclude_matching_nothing_leaves_an_existing_empty_folder_empty(tmp_path, capsys):
    out = tmp_path / "given"
    out.mkdir()
    prune = ["--set", "prune.target_sparsity=0.5"]
    code, _, err = run_cli([*TINY_MLP, "--output", str(out), *prune, "--set", "prune.exclude=[nothing/*]"], capsys)
    assert refused_in_one_line(code, err, "matches no prunable weight"), err
    assert out.is_dir() and list(out.iterdir()) == []
    code, _, err = run_cli([*TINY_MLP, "--output", str(out), *prune, "--set", "prune.exclude=[logits/*]"], capsys)
    assert code == 0 and RunDir(out).is_finished, err


def test_a_pretrained_pair_given_by_half_is_one_line_and_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "neumf"
    code, _, err = run_cli(["--model", "neumf", "--tiny", "--data", "synthetic", "--output", str(out),
                            "--set", f"model.pretrained_gmf={tmp_path / 'gmf.keras'}"], capsys)
    assert refused_in_one_line(code, err, "must be given together"), err
    assert not out.exists()


def test_a_refused_resume_keeps_the_run_as_it_was(source_run, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in source_run.iterdir()}
    code, _, err = run_cli(["--model", "mlp", "--output", str(source_run), "--resume", "--epochs", "9"], capsys)
    assert code == 2 and "train.epochs=9" in err
    assert {p.name: p.stat().st_mtime_ns for p in source_run.iterdir()} == before


# ---------------------------------------------------------------------------- tracebacks turned into one line
def _naming_os_system(run, copy):
    """A copy of `run` whose model.keras names `os.system` as a Dense layer's activation."""
    shutil.copytree(run, copy)
    with zipfile.ZipFile(run / "model.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system",
                                     "registered_name": "function"}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(copy / "model.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return copy


def test_a_model_file_naming_a_non_keras_function_is_one_line_for_evaluate_and_export(source_run, tmp_path, capsys):
    hostile = _naming_os_system(source_run, tmp_path / "hostile")
    code, _, err = run_cli([str(hostile), "--data", "synthetic"], capsys, evaluate_tool)
    assert refused_in_one_line(code, err, "Could not locate function 'system'"), err
    code, _, err = run_cli([str(hostile), "--output", str(tmp_path / "serving")], capsys, export_tool)
    assert refused_in_one_line(code, err, "Could not locate function 'system'"), err
    assert not (tmp_path / "serving").exists()


def test_ctrl_c_drops_tensorflows_object_was_never_used_dump(capsys):
    import gc
    import logging

    import tensorflow as tf
    from tensorflow.python.util import tf_should_use

    from kzoo.cli.common import run_tool

    def interrupted_mid_graph(argv):
        with tf.Graph().as_default():
            half_built = tf_should_use.should_use_result(tf.constant)(1)  # noqa: F841 (collected unused)
            raise KeyboardInterrupt

    records = []
    collect = logging.Handler()
    collect.emit = records.append
    logging.getLogger("tensorflow").addHandler(collect)
    try:
        with pytest.raises(SystemExit) as exit_info:
            run_tool(interrupted_mid_graph, [])
        code = exit_info.value.code
        del exit_info  # its exception chain holds the unused tensor: collected now, as at the process's exit
        gc.collect()
    finally:
        logging.getLogger("tensorflow").removeHandler(collect)
    assert code == 130 and capsys.readouterr().err == "error: interrupted\n"
    assert [r.getMessage()[:60] for r in records] == []


@pytest.mark.parametrize("full", ["tensorflow", "python"])
def test_an_export_onto_a_full_disk_is_one_line_and_writes_nothing(source_run, tmp_path, capsys, monkeypatch, full):
    import errno

    import keras
    import tensorflow as tf

    def no_space(archive, path, *args, **kwargs):
        if full == "tensorflow":  # what the SavedModel's variable writer raised on a 40 KiB tmpfs
            raise tf.errors.ResourceExhaustedError(None, None, f"{path}/variables/part-0; No space left on device")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    # Keras 3.15's ExportArchive() is a backend subclass with its own write_out.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", no_space)
    serving = tmp_path / "serving"
    code, _, err = run_cli([str(source_run), "--output", str(serving)], capsys, export_tool)
    assert refused_in_one_line(code, err, f"no space left on the device for an export under {serving}"), err
    assert not serving.exists()
