"""LiteRT and ONNX exports (kzoo.runtimes): convert, run, agree with the Keras model and the raw-input SavedModel.

One tiny synthetic run per entry (module-scoped). The default run converts a representative entry
of each task that converts (mlp, lstm, gmf); the other entries are `slow`. The drift check feeds raw
inputs to the run's SavedModel and, preprocessed as the export's spec says (`Task.tensor_inputs`),
to the converted tensor-only model: a tensor-only signature that drifted from the raw one fails it.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kzoo.cli import export as export_tool
from kzoo.run_dir import RunDir
from kzoo.runtimes import export_runtime, formats, parse_formats
from kzoo.runtimes import to_litert, to_onnx
from kzoo.runtimes.parity import run_rows
from kzoo.signatures import ExportError
from kzoo.signatures.tensor import TensorEndpoint
from kzoo.tasks import get_task
from kzoo.training import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import tiny_run  # noqa: E402

LOADERS = {"litert": to_litert.load, "onnx": to_onnx.load}
TEXTS = ["a wonderful film", "", "terrible " * 100, "ünïcödé ☃ <br /> dull"]
SOURCES = ["ein Hund läuft.", "eine Frau singt!", "zwei Männer spielen Fußball"]


def _run_fixture(name):
    @pytest.fixture(scope="module", name=f"{name}_run")
    def run(tmp_path_factory):
        """A tiny synthetic run of the entry, shared by the module's tests."""
        return tiny_run(tmp_path_factory, name)

    return run


# One module-scoped fixture per entry, `<entry>_run` (bert_mlm exports no model: it is skipped).
ENTRIES = ("mlp", "cnn", "cnn_small", "lstm", "lstm_small", "transformer_cls", "bert_cls", "gmf", "ncf_mlp", "neumf",
           "transformer_seq2seq")
for _entry in ENTRIES:
    globals()[f"{_entry}_run"] = _run_fixture(_entry)


def raw_inputs(run: RunDir, config):
    """Raw `serving_default` inputs of the entry's kind, edge cases included."""
    task = config["task"]
    if task == "image_classification":
        return {"image": np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)}
    if task == "text_classification":
        return {"text": np.asarray(TEXTS, dtype=object)}
    if task == "recommendation":
        maps = run.preprocessor(config)
        users = np.array([*maps.user_ids[:3], 10**9], np.int64)  # the last one was never seen: index 0
        return {"user_id": users, "item_id": np.array([*maps.item_ids[-3:], maps.item_ids[0]], np.int64)}
    return {"text": np.asarray(SOURCES, dtype=object)}


def assert_matches_saved_model(run_path, folder):
    """The converted model on preprocessed raw inputs == the raw-input SavedModel on the same raw inputs."""
    run = RunDir(run_path)
    config = run.config()
    task, preprocessor = get_task(config["task"]), run.preprocessor(config)
    info = json.loads((folder / "kzoo.json").read_text())
    raw = raw_inputs(run, config)
    served = tf.saved_model.load(str(run_path / "export" / "1")).signatures["serving_default"]
    expected = {k: v.numpy() for k, v in served(**{k: tf.constant(v) for k, v in raw.items()}).items()}
    runner = LOADERS[info["runtime"]]((folder / info["file"]).read_bytes())
    batch = (info["fixed_shapes"] or {}).get("batch")
    outputs = task.serving_outputs(run_rows(runner, task.tensor_inputs(raw, preprocessor), batch), preprocessor)
    assert set(outputs) == set(expected)
    for name, want in expected.items():
        if np.issubdtype(want.dtype, np.floating):
            np.testing.assert_allclose(outputs[name], want, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(outputs[name], want, err_msg=name)


CONVERTS = [("mlp", "litert"), ("mlp", "onnx"), ("lstm", "litert"), ("lstm", "onnx"), ("gmf", "litert"),
            ("gmf", "onnx")]
CONVERTS_SLOW = [(entry, runtime) for entry in ENTRIES if entry not in ("mlp", "lstm", "gmf", "transformer_seq2seq")
                 for runtime in ("litert", "onnx")]


@pytest.mark.parametrize("entry, runtime", [pytest.param(*CONVERTS[0], marks=pytest.mark.smoke), *CONVERTS[1:]]
                         + [pytest.param(*c, marks=pytest.mark.slow) for c in CONVERTS_SLOW])
def test_the_export_converts_runs_and_agrees_with_keras_and_the_saved_model(entry, runtime, request, tmp_path):
    run_path = request.getfixturevalue(f"{entry}_run")
    folder = export_runtime(run_path, runtime, output=tmp_path)
    assert folder == tmp_path / runtime / "1"
    info = json.loads((folder / "kzoo.json").read_text())
    assert info["entry"] == entry and info["runtime"] == runtime and info["quantization"] is None
    assert (folder / info["file"]).stat().st_size == info["bytes"] > 0
    assert all(diff <= info["parity"]["tolerance"] for diff in info["parity"]["max_abs_diff"].values())
    assert all(agreement == 1.0 for agreement in info["parity"]["agreement"].values())
    spec = info["preprocessing"]
    for key in ("vocabulary", "user_ids", "item_ids"):  # the files the spec names are there
        if key in spec:
            assert (folder / spec["directory"] / spec[key]).is_file()
    assert_matches_saved_model(run_path, folder)


def test_lstm_litert_has_a_fixed_batch_of_one_said_in_the_metadata(lstm_run, tmp_path):
    info = json.loads((export_runtime(lstm_run, "litert", output=tmp_path) / "kzoo.json").read_text())
    length = RunDir(lstm_run).config()["data"]["sequence_length"]
    assert info["fixed_shapes"]["batch"] == 1 and info["signature"]["inputs"]["token_ids"] == ["int32", [1, length]]
    spec = info["preprocessing"]
    assert spec["tokenizer"] == "word" and spec["sequence_length"] == length and spec["padding_id"] == 0
    vocabulary = (tmp_path / "litert" / "1" / "preprocessing" / spec["vocabulary"]).read_text().split("\n")
    assert vocabulary[:2] == ["", "[UNK]"] and len(vocabulary) == spec["vocabulary_size"]


def test_litert_int8_of_an_image_entry_is_full_integer_calibrated_on_the_runs_data(mlp_run, tmp_path):
    float_info = json.loads((export_runtime(mlp_run, "litert", output=tmp_path) / "kzoo.json").read_text())
    folder = export_runtime(mlp_run, "litert", output=tmp_path, quantize="int8")
    info = json.loads((folder / "kzoo.json").read_text())
    assert folder.name == "2" and info["quantization"]["mode"] == "int8"
    method = info["quantization"]["method"]
    assert method.startswith("full integer") and "200 training examples" in method
    assert info["parity"]["inputs"] == "the run's test examples (64 rows)"
    assert info["bytes"] < float_info["bytes"] / 2
    assert info["parity"]["max_abs_diff"]["probabilities"] <= info["parity"]["tolerance"] == 0.05


def test_litert_int8_of_other_entries_is_dynamic_range(gmf_run, tmp_path):
    info = json.loads((export_runtime(gmf_run, "litert", output=tmp_path, quantize="int8") / "kzoo.json").read_text())
    assert info["quantization"]["method"].startswith("dynamic range")
    assert info["parity"]["inputs"] == "the entry's example batch (8 rows)"


def test_litert_int8_of_a_text_entry_really_holds_int8_weights(tmp_path):
    """Dynamic range leaves tensors under 1024 values float, which is all of tiny lstm: widen it a little."""
    from ai_edge_litert.interpreter import Interpreter

    run = tmp_path / "run"
    train("lstm", tiny=True, data="synthetic", output=str(run), export=False, verbose=0,
          overrides={"model.embedding_dim": 64, "model.units": 32})
    folders = {q: export_runtime(run, "litert", output=tmp_path / "litert", quantize=q) for q in (None, "int8")}
    dtypes = {q: [d["dtype"] for d in Interpreter(model_path=str(f / "model.tflite")).get_tensor_details()]
              for q, f in folders.items()}
    info = {q: json.loads((f / "kzoo.json").read_text()) for q, f in folders.items()}
    assert info["int8"]["quantization"]["method"].startswith("dynamic range")
    assert np.int8 not in dtypes[None] and dtypes["int8"].count(np.int8) >= 2  # the LSTM kernels at least
    assert info["int8"]["bytes"] < 0.6 * info[None]["bytes"]


def test_beyond_the_tolerance_the_export_fails_with_one_line_and_writes_nothing(mlp_run, tmp_path):
    with pytest.raises(ExportError) as err:
        export_runtime(mlp_run, "litert", output=tmp_path, quantize="int8", tolerance=0.0)
    message = str(err.value)
    assert "\n" not in message and message.startswith("litert: ") and "> tolerance 0" in message
    assert not (tmp_path / "litert").exists()


@pytest.mark.parametrize("runtime, fragment", [
    ("litert", "ops AsString, StringToHashBucketFast have no LiteRT builtin"),
    ("onnx", "op StringToHashBucketFast has no ONNX mapping"),
])
def test_a_model_that_cannot_convert_gives_one_line_naming_the_op(mlp_run, tmp_path, monkeypatch, runtime, fragment):
    task = type(get_task("image_classification"))

    def hashed(self, model, config, preprocessor):  # string ops: neither LiteRT builtins nor ONNX have them
        def fn(image):
            buckets = tf.strings.to_hash_bucket_fast(tf.strings.as_string(image), 7)
            return {"probabilities": tf.cast(buckets, tf.float32)}

        spec = tf.TensorSpec([None, 28, 28, 1], tf.uint8, name="image")
        return TensorEndpoint(fn, [spec], {"image": np.zeros((2, 28, 28, 1), np.uint8)})

    monkeypatch.setattr(task, "tensor_endpoint", hashed)
    with pytest.raises(ExportError) as err:
        export_runtime(mlp_run, runtime, output=tmp_path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{runtime}: cannot convert mlp: ") and fragment in message
    assert not (tmp_path / runtime).exists()


@pytest.mark.parametrize("runtime", ["litert", "onnx"])
def test_the_translator_converts_with_greedy_and_with_beam_search(transformer_seq2seq_run, runtime, tmp_path):
    from kzoo.models.transformer_seq2seq import beam_decode

    assert_matches_saved_model(transformer_seq2seq_run, export_runtime(transformer_seq2seq_run, runtime,
                                                                       output=tmp_path))
    folder = export_runtime(transformer_seq2seq_run, runtime, output=tmp_path / "beam",
                            overrides=["export.beam_size=3"])
    run = RunDir(transformer_seq2seq_run)
    config = run.config()
    preprocessor = run.preprocessor(config)
    info = json.loads((folder / "kzoo.json").read_text())
    runner = LOADERS[runtime]((folder / info["file"]).read_bytes())
    source_ids = preprocessor.encode_source(SOURCES).numpy()
    got = run_rows(runner, {"source_ids": source_ids}, (info["fixed_shapes"] or {}).get("batch"))["target_ids"]
    want = beam_decode(run.load_model(), source_ids, config["data"]["target_length"], preprocessor.start_id,
                       preprocessor.end_id, beam_size=3, length_penalty=config["export"]["length_penalty"])
    np.testing.assert_array_equal(got, np.asarray(want))


@pytest.mark.parametrize("entry, runtime", [("mlp", "litert"), ("lstm", "onnx"), ("transformer_seq2seq", "onnx")])
def test_a_portable_export_is_scored_on_raw_test_data_like_its_saved_model(entry, runtime, request, tmp_path,
                                                                        monkeypatch):
    from kzoo import serving_eval
    from kzoo.signatures import scoring

    run_path = request.getfixturevalue(f"{entry}_run")
    folder = export_runtime(run_path, runtime)  # inside the run: its scorer preprocesses with the run's files
    saved_model = run_path / "export" / "1"
    run = RunDir(run_path)
    raw = raw_inputs(run, run.config())
    (name, values), = raw.items()
    served = tf.saved_model.load(str(saved_model)).signatures["serving_default"](**{name: tf.constant(values)})
    if entry == "transformer_seq2seq":  # references = the SavedModel's translations: BLEU 100 when they agree
        references = [t.decode("utf-8") for t in served["translation"].numpy()]
        monkeypatch.setattr(scoring, "raw_test_pairs", lambda data, data_dir: (list(values), references))
    else:  # labels = the SavedModel's predictions: accuracy 1 when they agree
        labels = served["label"].numpy()
        monkeypatch.setattr(scoring, "raw_test_split", lambda dataset, data_dir, max_examples=None: (values, labels, None))
    portable, reference = serving_eval.evaluate_export(folder, "unused"), serving_eval.evaluate_export(saved_model, "unused")
    metric = "test_bleu" if entry == "transformer_seq2seq" else "test_accuracy"
    assert portable["runtime"] == runtime and reference["runtime"] == "savedmodel"
    assert portable[metric] == pytest.approx(reference[metric]) == pytest.approx(100.0 if metric == "test_bleu" else 1.0)
    assert portable["test_examples"] == len(values)


@pytest.mark.parametrize("start", [0, 2, 3, 7, -1])
def test_the_onnx_dynamic_update_slice_clamps_its_start_as_tensorflow_does(start):
    """kzoo.runtimes.onnx_ops maps XlaDynamicUpdateSlice (Keras' `ops.slice_update`), which tf2onnx lacks."""
    import keras
    import tf2onnx

    from kzoo.runtimes import onnx_ops  # noqa: F401

    specs = [tf.TensorSpec([None, 5, 3], tf.float32, name="x"), tf.TensorSpec([None, 2, 3], tf.float32, name="u"),
             tf.TensorSpec([], tf.int32, name="i")]

    @tf.function(input_signature=specs)
    def update(x, u, i):
        return {"y": keras.ops.slice_update(x, [0, i, 0], u)}

    assert "XlaDynamicUpdateSlice" in {op.type for op in update.get_concrete_function().graph.get_operations()}
    proto, _ = tf2onnx.convert.from_function(update, input_signature=specs, opset=to_onnx.OPSET)
    rng = np.random.default_rng(start + 1)
    x, u = rng.normal(size=(2, 5, 3)).astype("float32"), rng.normal(size=(2, 2, 3)).astype("float32")
    got = to_onnx.load(proto.SerializeToString())({"x": x, "u": u, "i": np.int32(start)})["y"]
    np.testing.assert_array_equal(got, update(x, u, np.int32(start))["y"].numpy())
    assert not np.array_equal(got, x)


def test_the_pretraining_entry_is_skipped_with_a_clear_message():
    with pytest.raises(ExportError, match="bert_mlm is a pretraining entry: its output is the keras-hub preset"):
        get_task("masked_lm").tensor_endpoint(None, {"entry": "bert_mlm"}, None)


def test_formats_are_a_repeatable_comma_list():
    assert parse_formats(None) == ["savedmodel"]
    assert parse_formats(["litert,onnx", "LiteRT", " savedmodel"]) == ["litert", "onnx", "savedmodel"]
    with pytest.raises(ValueError, match="unknown format 'tflite'; valid: savedmodel, litert, onnx"):
        parse_formats(["tflite"])


def test_kzoo_export_writes_each_format_and_prints_its_folder(mlp_run, tmp_path, capsys):
    assert export_tool.main([str(mlp_run), "--format", "savedmodel,litert", "--format", "onnx",
                             "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "1"), str(tmp_path / "litert" / "1"), str(tmp_path / "onnx" / "1")]
    assert (tmp_path / "1" / "saved_model.pb").is_file() and (tmp_path / "onnx" / "1" / "model.onnx").is_file()


@pytest.mark.parametrize("argv, fragment", [
    (["--format", "tflite"], "--format: unknown format 'tflite'"),
    (["--format", "onnx", "--quantize", "int8"], "--quantize int8 is not available for onnx exports"),
    (["--format", "litert", "--preset", "p"], "add --saved-model"),
])
def test_bad_format_requests_are_one_line_exit_2(mlp_run, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exit_:
        export_tool.main([str(mlp_run), *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and fragment in err


def test_a_missing_converter_is_one_line_naming_the_extra(mlp_run, tmp_path, capsys, monkeypatch):
    find_spec = formats.importlib.util.find_spec
    monkeypatch.setattr(formats.importlib.util, "find_spec",
                        lambda name: None if name == "tf2onnx" else find_spec(name))
    with pytest.raises(SystemExit) as exit_:
        export_tool.main([str(mlp_run), "--format", "onnx", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err == f"error: --format onnx needs tf2onnx, which is not installed: {formats.INSTALL_HINT}\n"
    with pytest.raises(ExportError, match=r'pip install -e "\.\[runtimes\]"'):
        export_runtime(mlp_run, "onnx", output=tmp_path)
    assert not os.listdir(tmp_path)


def test_predict_runs_a_portable_export_on_tensor_inputs(gmf_run, lstm_run, tmp_path, capsys):
    from kzoo.cli import predict

    export_runtime(gmf_run, "onnx", output=tmp_path)
    assert predict.main([str(tmp_path / "onnx"), "--input", "user_index=1,2", "--input", "item_index=3,0"]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert len(rows) == 2 and all(0 < row["score"] < 1 for row in rows)
    assert predict.main([str(tmp_path / "onnx" / "1"), "--input", "user_index=1"]) == 2
    assert "also takes item_index" in capsys.readouterr().err

    folder = export_runtime(lstm_run, "litert", output=tmp_path)
    length = RunDir(lstm_run).config()["data"]["sequence_length"]
    ids = ",".join(["5", "7"] + ["0"] * (length - 2))
    assert predict.main([str(folder / "model.tflite"), "--input", f"token_ids={ids}"]) == 0
    row = json.loads(capsys.readouterr().out)["predictions"][0]
    assert row["label_name"] in ("neg", "pos") and abs(sum(row["probabilities"]) - 1) < 1e-5
    assert predict.main([str(folder), "--input", "token_ids=5,7"]) == 2
    assert f"does not fit [1, {length}]" in capsys.readouterr().err


@pytest.mark.parametrize("runtime", ["onnx", "litert"])
def test_predict_refuses_ids_a_portable_export_would_misread_in_one_line(lstm_run, gmf_run, runtime, tmp_path, capsys):
    from kzoo.cli import predict

    folder = export_runtime(lstm_run, runtime, output=tmp_path)
    gmf_folder = export_runtime(gmf_run, runtime, output=tmp_path / "gmf")
    capsys.readouterr()
    info = json.loads((folder / "kzoo.json").read_text())
    vocabulary, length = info["preprocessing"]["vocabulary_size"], info["signature"]["inputs"]["token_ids"][1][1]

    def ids(*first):
        return ",".join(str(v) for v in [*first, *[0] * (length - len(first))])

    for bad, fragment in [(ids(5, vocabulary), f"{vocabulary} is outside the vocabulary's ids 0..{vocabulary - 1}"),
                          (ids(5, -1), "-1 is outside the vocabulary's ids"),  # ONNX's Gather reads -1 as the last row
                          (ids(5, 2.5), "2.5 is not an integer")]:  # the int32 cast would truncate it to 2
        assert predict.main([str(folder), "--input", f"token_ids={bad}"]) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("error: --input token_ids: ") and fragment in err and len(err.splitlines()) == 1, err
    assert predict.main([str(folder), "--input", f"token_ids={ids(5, vocabulary - 1)}"]) == 0
    capsys.readouterr()
    # No vocabulary size in a recommender's kzoo.json: the runtime's own refusal, in one line.
    assert predict.main([str(gmf_folder), "--input", "user_index=100000", "--input", "item_index=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the export rejected the input: ") and len(err.splitlines()) == 1, err


def test_benchmark_times_a_portable_export_in_its_run(lstm_run):
    from kzoo.bench import runs

    folder = export_runtime(lstm_run, "litert")  # RUN/export/litert/<v>: the run's vocabulary makes the inputs
    records = []
    runs.serving_benchmark([str(folder)], None, records.append, calls=20)
    (record,) = records
    assert record["runtime"] == "litert" and record["fixed_batch"] == 1 and record["bytes"] > 0
    assert 0 < record["batch1_p50_ms"] <= record["batch1_p99_ms"] and record["batch256_examples_per_sec"] > 0
