"""SavedModel export: signatures, a TensorFlow-only client, edge inputs, atomic versions, int8, tools."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.export import ExportError, export_model, export_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import make_run  # noqa: E402
from _serving_client import serve_in_clean_process  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["a great film, I loved it", "the worst movie ever <br /> boring", "great acting", "dull and long plot",
         "loved the music", "worst plot", "film film film"]
EDGE_TEXTS = ["a great film", "", "great " * 3000, "Ça m'a plu — 日本語のレビュー 😀", "WORST!!! movie..."]
SOURCES = ["ein Hund läuft.", "eine Frau singt!", "zwei Männer spielen Fußball", "ein Kind lacht"]
TARGETS = ["a dog runs.", "a woman sings!", "two men play soccer", "a child laughs"]
SIGNATURE_ERRORS = (TypeError, ValueError, tf.errors.InvalidArgumentError)


def softmax(logits):
    return tf.nn.softmax(logits).numpy()


@pytest.fixture(scope="module")
def image(tmp_path_factory, tiny_config):
    keras.utils.set_random_seed(0)
    config = tiny_config("mlp")
    model = kzoo.build_from_config(config, compile=False)
    path = export_model(model, config, None, tmp_path_factory.mktemp("mlp") / "export")
    return model, config, path


@pytest.fixture(scope="module")
def text(tmp_path_factory, tiny_config):
    from kzoo.data.text import TextPreprocessor

    keras.utils.set_random_seed(0)
    base = tiny_config("lstm")
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(TEXTS), base["data"]["sequence_length"],
                                    base["model"]["vocab_size"], class_names=["neg", "pos"])
    config = tiny_config("lstm", **{"model.vocab_size": fitted.vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    run = make_run(tmp_path_factory.mktemp("lstm") / "run", model, config, fitted)
    preprocessor = TextPreprocessor.load(run / "preprocessing")  # what serving must reproduce
    return model, config, preprocessor, export_run(run), run


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory, tiny_config):
    """bert_cls with its WordPiece tokenizer (TensorFlow Text ops in the graph)."""
    from kzoo.data.text import TextPreprocessor

    keras.utils.set_random_seed(0)
    base = tiny_config("bert_cls")
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(TEXTS), base["data"]["sequence_length"],
                                    base["model"]["vocab_size"], tokenizer="wordpiece")
    config = tiny_config("bert_cls", **{"model.vocab_size": fitted.vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    return model, fitted, export_model(model, config, fitted, tmp_path_factory.mktemp("bert") / "export")


@pytest.fixture(scope="module")
def translator(tmp_path_factory, tiny_config):
    from kzoo.data.seq2seq import Seq2SeqPreprocessor

    base = tiny_config("transformer_seq2seq")
    fitted = Seq2SeqPreprocessor.adapt(
        tf.data.Dataset.from_tensor_slices(SOURCES), tf.data.Dataset.from_tensor_slices(TARGETS),
        base["data"]["source_length"], base["data"]["target_length"],
        base["model"]["source_vocab_size"], base["model"]["target_vocab_size"])
    config = tiny_config("transformer_seq2seq", **{f"model.{k}": v for k, v in fitted.model_overrides().items()})
    keras.utils.set_random_seed(0)
    model = kzoo.build_from_config(config, compile=False)
    rng = np.random.default_rng(0)  # large random embeddings: varied translations to compare
    for layer in model.get_layer("encoder").layers + model.get_layer("decoder").layers:
        if "embedding" in layer.name:
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    run = make_run(tmp_path_factory.mktemp("s2s") / "run", model, config, fitted)
    return model, config, Seq2SeqPreprocessor.load(run / "preprocessing"), export_run(run)


def translate_with_keras(model, config, preprocessor, texts, **options):
    """Keras translations of `texts`, decoded as the config's export decodes (or with `options`)."""
    from kzoo.models.transformer_seq2seq import decode
    from kzoo.signatures.translation import decoding_options

    ids = decode(model, preprocessor.encode_source(texts), config["data"]["target_length"],
                 preprocessor.start_id, preprocessor.end_id, **{**decoding_options(config), **options})
    return np.array([t.decode("utf-8") for t in preprocessor.detokenize(ids).numpy()])


@pytest.fixture(scope="module")
def recommender(tmp_path_factory, tiny_config):
    if "gmf" not in kzoo.list_models():
        pytest.skip("the gmf entry is not registered")
    IdMaps = pytest.importorskip("kzoo.data.recommender").IdMaps
    config = tiny_config("gmf")
    maps = IdMaps(np.arange(config["model"]["num_users"]) * 3 + 1000, np.arange(config["model"]["num_items"]) * 7 + 5)
    model = kzoo.build_from_config(config, compile=False)
    rng = np.random.default_rng(0)  # spread the scores: no ties in the top-k comparison
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model, config, maps, export_model(model, config, maps, tmp_path_factory.mktemp("gmf") / "export")


# Each *_cases function returns [(job for the clean process, check of its outputs)].


def image_cases(image):
    mlp, _, export = image
    pixels = np.random.default_rng(1).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    expected = softmax(mlp(pixels[..., None], training=False))

    def check(rows):
        def run(out):
            np.testing.assert_allclose(out["probabilities"], expected[rows], atol=1e-5)
            np.testing.assert_array_equal(out["label"], expected[rows].argmax(-1))
            assert out["probabilities"].dtype == np.float32 and out["label"].dtype == np.int64
        return run

    return [((export, "serving_default", {"image": pixels}), check(slice(None))),
            ((export, "serving_default", {"image": pixels[:1]}), check(slice(0, 1))),  # a batch of one
            ((export, "serve_nhwc", {"image": pixels[..., None]}), check(slice(None)))]


def text_cases(text, wordpiece):
    lstm, _, preprocessor, export, _ = text
    expected = softmax(lstm(preprocessor(EDGE_TEXTS), training=False))
    bert, bert_preprocessor, bert_export = wordpiece
    bert_expected = softmax(bert(bert_preprocessor(EDGE_TEXTS), training=False))

    def check(out):
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        np.testing.assert_array_equal(out["label"], expected.argmax(-1))
        assert np.isfinite(out["probabilities"]).all()

    return [((export.parent, "serving_default", {"text": np.array(EDGE_TEXTS)}), check),  # the versioned parent
            ((export, "serving_default", {"text": np.array(EDGE_TEXTS[3:4])}),
             lambda out: np.testing.assert_allclose(out["probabilities"], expected[3:4], atol=1e-5)),
            ((bert_export, "serving_default", {"text": np.array(EDGE_TEXTS)}),  # TensorFlow Text ops inside
             lambda out: np.testing.assert_allclose(out["probabilities"], bert_expected, atol=1e-5))]


def translation_cases(translator):
    model, config, preprocessor, export = translator
    texts = SOURCES + EDGE_TEXTS
    expected = translate_with_keras(model, config, preprocessor, texts)
    assert len(set(expected)) > 2  # varied translations: the comparison means something
    return [((export, "serving_default", {"text": np.array(texts)}),
             lambda out: np.testing.assert_array_equal(out["translation"], expected)),
            ((export, "serving_default", {"text": np.array(texts[:1])}),
             lambda out: np.testing.assert_array_equal(out["translation"], expected[:1]))]


def recommender_reference(model, maps, users, items):
    inputs = {"user_id": maps.map_users(users).astype("int32"), "item_id": maps.map_items(items).astype("int32")}
    return tf.sigmoid(tf.reshape(model(inputs, training=False), [-1])).numpy()


def recommender_cases(recommender):
    model, _, maps, export = recommender
    users = np.array([1000, 1003, 424242, 1057], np.int64)  # 424242: never seen in training (the OOV slot)
    items = np.array([5, 424242, 12, 33], np.int64)

    def check_top_k(out):
        np.testing.assert_array_equal(out["fallback"], maps.map_users(users) == 0)  # 424242: the popular items
        for row, user in enumerate(users):
            if out["fallback"][row]:
                continue
            grid = recommender_reference(model, maps, np.full(maps.num_items, user), maps.item_ids)
            best = np.argsort(-grid, kind="stable")[:4]
            np.testing.assert_array_equal(out["item_ids"][row], maps.item_ids[best])
            np.testing.assert_allclose(out["scores"][row], grid[best], atol=1e-5)

    return [((export, "serving_default", {"user_id": users, "item_id": items}),
             lambda out: np.testing.assert_allclose(out["score"], recommender_reference(model, maps, users, items),
                                                    atol=1e-5)),
            ((export, "recommend", {"user_id": users, "k": np.int32(4)}), check_top_k)]


def test_clean_tensorflow_process_serves_what_keras_computes(request, image, text, wordpiece, translator, tmp_path):
    cases = image_cases(image) + text_cases(text, wordpiece) + translation_cases(translator)
    try:
        cases += recommender_cases(request.getfixturevalue("recommender"))
    except pytest.skip.Exception:
        pass  # reported by the recommender tests below
    outputs, report = serve_in_clean_process([job for job, _ in cases], tmp_path)
    assert report == {"kzoo_modules": [], "new_keras_modules": []}
    for (_, check), out in zip(cases, outputs):
        check(out)


def serve_in_this_process(cases) -> None:
    """Run `[(job, check)]` cases (as the *_cases functions return them) on exports loaded here."""
    for (export, signature, inputs), check in cases:
        outputs = tf.saved_model.load(str(export)).signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        check({name: value.numpy() for name, value in outputs.items()})


def randomized(model, seed=0):
    """`model` with every weight drawn from N(0, 1): spread-out outputs, so a comparison means something."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.mark.parametrize("name", [pytest.param("cnn", marks=pytest.mark.smoke), "transformer_cls", "ncf_mlp", "neumf"])
def test_each_family_exports_what_its_keras_model_computes(name, tmp_path, tiny_config):
    keras.utils.set_random_seed(0)
    config = tiny_config(name)
    if name == "cnn":
        model = kzoo.build_from_config(config, compile=False)
        export = export_run(make_run(tmp_path / "run", model, config))
        cases = image_cases((model, config, export))
        pixels = cases[0][0][2]["image"]
        assert np.ptp(softmax(model(pixels[..., None], training=False)), axis=0).max() > 1e-3  # inputs tell apart
    elif name == "transformer_cls":
        from kzoo.data.text import TextPreprocessor

        fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(TEXTS), config["data"]["sequence_length"],
                                        config["model"]["vocab_size"], class_names=["neg", "pos"])
        config = tiny_config(name, **{"model.vocab_size": fitted.vocabulary_size})
        model = kzoo.build_from_config(config, compile=False)
        run = make_run(tmp_path / "run", model, config, fitted)
        preprocessor, export = TextPreprocessor.load(run / "preprocessing"), export_run(run)
        expected = softmax(model(preprocessor(TEXTS + EDGE_TEXTS), training=False))
        assert np.ptp(expected, axis=0).max() > 1e-3

        def check(out):
            np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
            np.testing.assert_array_equal(out["label"], expected.argmax(-1))

        cases = [((export, "serving_default", {"text": np.array(TEXTS + EDGE_TEXTS)}), check)]
    else:
        from kzoo.data.recommender import IdMaps

        maps = IdMaps(np.arange(config["model"]["num_users"]) * 3 + 1000,
                      np.arange(config["model"]["num_items"]) * 7 + 5)
        model = randomized(kzoo.build_from_config(config, compile=False), seed=3)  # a draw without tied scores
        run = make_run(tmp_path / "run", model, config, maps)
        cases = recommender_cases((model, config, maps, export_run(run)))
        for user in cases[1][0][2]["user_id"]:  # the top-k comparison needs a strict order
            grid = recommender_reference(model, maps, np.full(maps.num_items, user), maps.item_ids)
            assert len(np.unique(grid)) == maps.num_items and np.ptp(grid) > 1e-3
    serve_in_this_process(cases)


def test_saved_model_cli_lists_the_signatures(text):
    shown = subprocess.run(["saved_model_cli", "show", "--dir", str(text[3]), "--all"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    default = shown.stdout.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
    assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 2)" in default
    assert "outputs['label'] tensor_info:\n        dtype: DT_INT64\n        shape: (-1)" in default


def test_image_export_has_both_layouts(image):
    served = tf.saved_model.load(str(image[2]))
    assert set(served.signatures) == {"serving_default", "serve_nhwc"}
    assert served.signatures["serving_default"].structured_input_signature[1]["image"].shape.as_list() == [None, 28, 28]
    assert served.signatures["serve_nhwc"].structured_input_signature[1]["image"].shape.as_list() == [None, 28, 28, 1]


def test_recommender_signatures_score_and_recommend(recommender):
    served = tf.saved_model.load(str(recommender[3]))
    assert set(served.signatures) == {"serving_default", "recommend", "recommend_including_seen"}
    recommend = served.signatures["recommend_including_seen"]
    inputs = recommend.structured_input_signature[1]
    assert {k: v.dtype for k, v in inputs.items()} == {"user_id": tf.int64, "k": tf.int32}
    assert set(recommend.structured_outputs) == {"item_ids", "scores", "fallback"}
    out = recommend(user_id=tf.constant([1000], tf.int64), k=tf.constant(1000))  # k is clipped to the item count
    assert out["item_ids"].shape == (1, recommender[1]["model"]["num_items"])
    assert set(out["item_ids"].numpy().ravel()) == set(recommender[2].item_ids.tolist())  # never the OOV slot
    for bad in ({"user_id": tf.constant([1], tf.int32), "item_id": tf.constant([1], tf.int32)},
                {"user_id": tf.constant([[1]], tf.int64), "item_id": tf.constant([[1]], tf.int64)}):
        with pytest.raises(SIGNATURE_ERRORS):
            served.signatures["serving_default"](**bad)


def test_recommender_refuses_batches_of_different_lengths_and_negative_k(recommender):
    served = tf.saved_model.load(str(recommender[3]))
    score = served.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="user_id.*item_id"):  # [1] is not broadcast to [3]
        score(user_id=tf.constant([1000], tf.int64), item_id=tf.constant([5, 12, 19], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="user_id.*item_id"):
        score(user_id=tf.constant([1000, 1003], tf.int64), item_id=tf.constant([5], tf.int64))
    assert score(user_id=tf.constant([], tf.int64), item_id=tf.constant([], tf.int64))["score"].shape == (0,)
    recommend = served.signatures["recommend"]
    for k in (-1, -2):
        with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 0"):
            recommend(user_id=tf.constant([1000], tf.int64), k=tf.constant(k))
    assert recommend(user_id=tf.constant([1000], tf.int64), k=tf.constant(0))["item_ids"].shape == (1, 0)
    from kzoo.cli.predict import rejection_reason  # what tools/predict.py prints when an export refuses

    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        score(user_id=tf.constant([1000], tf.int64), item_id=tf.constant([5, 12], tf.int64))
    assert rejection_reason(refused.value) == "user_id and item_id must be batches of the same length (one pair per row)"


def test_wrong_dtype_or_shape_is_rejected_by_the_signature(image, text):
    pixels = tf.zeros([2, 28, 28], tf.uint8)
    classify = tf.saved_model.load(str(image[2])).signatures["serving_default"]
    for bad in (tf.cast(pixels, tf.float32), tf.zeros([2, 28, 27], tf.uint8), tf.zeros([2, 28, 28, 1], tf.uint8)):
        with pytest.raises(SIGNATURE_ERRORS):
            classify(image=bad)
    texts = tf.saved_model.load(str(text[3])).signatures["serving_default"]
    for bad in (tf.constant([1.0, 2.0]), tf.constant([["a", "b"]]), tf.constant("one string, no batch")):
        with pytest.raises(SIGNATURE_ERRORS):
            texts(text=bad)


def test_versions_count_up_and_a_failed_export_leaves_no_trace(image, tmp_path, monkeypatch):
    model, config, _ = image
    output = tmp_path / "serving"
    first = export_model(model, config, None, output)
    assert first == output / "1" and (first / "saved_model.pb").is_file()
    files_before = sorted(p.relative_to(output) for p in output.rglob("*"))

    def crash(*args, **kwargs):  # dies halfway: part of the SavedModel is already on disk
        (Path(args[1]) / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(model, config, None, output)
    assert sorted(p.relative_to(output) for p in output.rglob("*")) == files_before
    with pytest.raises(RuntimeError):
        export_model(model, config, None, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    monkeypatch.undo()
    assert export_model(model, config, None, output) == output / "2"
    assert tf.saved_model.load(str(first)).signatures["serving_default"](image=tf.zeros([1, 28, 28], tf.uint8))


def test_bad_input_raises_export_error(image, text, tmp_path):
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(ExportError, match="model.keras"):
        export_run(empty)
    with pytest.raises(ExportError, match="does not exist"):
        export_run(tmp_path / "nowhere")
    with pytest.raises(ExportError, match="unknown quantize mode 'int3'"):
        export_run(text[4], quantize="int3")
    model, config, _ = image
    with pytest.raises(ExportError, match="cannot export task 'dreaming'"):
        export_model(model, config.replace(task="dreaming"), None, tmp_path / "out")
    with pytest.raises(ExportError, match="tokenizer"):
        export_model(text[0], text[1], object(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def stored_shapes(export: Path, dtype: str) -> list:
    """Sorted shapes of the weights of `dtype` (e.g. "int8") that an export's checkpoint stores."""
    reader = tf.train.load_checkpoint(str(Path(export) / "variables" / "variables"))
    return sorted(tuple(shape) for key, shape in reader.get_variable_to_shape_map().items()
                  if key.endswith("VARIABLE_VALUE") and reader.get_variable_to_dtype_map()[key].name == dtype)


def weight_shapes(model, *paths) -> list:
    """Sorted shapes of the model's weights whose path is one of `paths`."""
    return sorted(tuple(w.shape) for w in model.weights if w.path in paths)


def test_int8_export_stays_close_to_the_float_model(image, text, tmp_path):
    model, config, float_export = image
    pixels = np.random.default_rng(2).integers(0, 256, size=(64, 28, 28), dtype=np.uint8)
    path = export_model(model, config, None, tmp_path / "mlp", quantize="int8")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(pixels))
    expected = softmax(model(pixels[..., None], training=False))
    assert np.mean(served["label"].numpy() == expected.argmax(-1)) >= 0.9
    np.testing.assert_allclose(served["probabilities"], expected, atol=0.05)
    assert np.abs(served["probabilities"].numpy() - expected).max() > 1e-6  # rounded weights: not the float model
    report = json.loads((path / "assets.extra" / "kzoo.json").read_text())["quantization"]
    assert report["mode"] == "int8" and "logits" in report["quantized_layers"] and not report["float_layers"]
    assert all(layer.dtype_policy.quantization_mode is None for layer in model.layers)  # original untouched
    # What the report says is what the SavedModel holds: every kernel in int8, none left in float.
    kernels = [w.path for w in model.weights if w.path.endswith("/kernel")]
    assert len(kernels) == 3 and stored_shapes(path, "int8") == weight_shapes(model, *kernels)
    assert not set(stored_shapes(path, "float32")) & set(weight_shapes(model, *kernels))
    assert stored_shapes(float_export, "int8") == []

    lstm, _, preprocessor, _, run = text  # LSTM cells have no int8 kernel: they stay float, the rest is int8
    path = export_run(run, output=tmp_path / "lstm", quantize="int8")
    report = json.loads((path / "assets.extra" / "kzoo.json").read_text())["quantization"]
    assert any("embedding" in name for name in report["quantized_layers"])
    assert any("lstm" in name for name in report["float_layers"])
    assert stored_shapes(path, "int8") == weight_shapes(lstm, "embedding/embeddings", "logits/kernel")
    lstm_kernels = [w.path for w in lstm.weights if "lstm_cell/" in w.path and w.path.endswith("kernel")]
    assert len(lstm_kernels) == 4 and set(weight_shapes(lstm, *lstm_kernels)) <= set(stored_shapes(path, "float32"))
    served = tf.saved_model.load(str(path)).signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(served["probabilities"], softmax(lstm(preprocessor(TEXTS), training=False)), atol=0.05)


def run_script(path, argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_export_tool_prints_the_version_dir_and_rejects_bad_input(text, tmp_path, monkeypatch, capsys):
    tool = ROOT / "tools" / "export.py"
    argv = [str(text[4] / "model.keras"), "--output", str(tmp_path / "srv")]
    code, out, _ = run_script(tool, argv, monkeypatch, capsys)
    assert code == 0 and out.strip() == str(tmp_path / "srv" / "1")
    code, _, err = run_script(tool, [str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and "model.keras" in err and "Traceback" not in err
    code, _, err = run_script(tool, [str(text[4]), "--quantize", "fp3"], monkeypatch, capsys)
    assert code == 2 and "unknown quantize mode 'fp3'" in err


def test_beam_search_export_serves_keras_beam_decode_and_refuses_bad_options(translator, text, tmp_path,
                                                                            monkeypatch, capsys):
    from kzoo.models.transformer_seq2seq import beam_decode

    model, config, preprocessor, export = translator
    run, tool = export.parent.parent, ROOT / "tools" / "export.py"
    # 2.0: on these inputs the penalty changes the chosen beam of two rows (1.0 changes none), so an
    # export that ignored it would serve other translations.
    argv = [str(run), "--output", str(tmp_path / "beam"), "--set", "export.beam_size=3",
            "--set", "export.length_penalty=2.0"]
    code, out, _ = run_script(tool, argv, monkeypatch, capsys)
    assert code == 0
    texts = SOURCES + EDGE_TEXTS
    ids = beam_decode(model, preprocessor.encode_source(texts), config["data"]["target_length"],
                      preprocessor.start_id, preprocessor.end_id, beam_size=3, length_penalty=2.0)
    expected = np.array([t.decode("utf-8") for t in preprocessor.detokenize(ids).numpy()])
    assert (expected != translate_with_keras(model, config, preprocessor, texts, beam_size=1)).any()  # not greedy
    without_penalty = translate_with_keras(model, config, preprocessor, texts, beam_size=3, length_penalty=0.0)
    assert (expected != without_penalty).any()  # the penalty chose another beam somewhere
    info = json.loads((Path(out.strip()) / "assets.extra" / "kzoo.json").read_text())
    assert info["export_options"] == {"beam_size": 3, "length_penalty": 2.0}
    served = tf.saved_model.load(out.strip()).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_array_equal(np.array([t.decode("utf-8") for t in served["translation"].numpy()]), expected)
    for bad, words in [((str(run), "--set", "model.d_model=8"), "export.KEY=VALUE"),
                       ((str(run), "--set", "export.beam_size=0"), "beam_size"),
                       ((str(text[4]), "--set", "export.beam_size=2"), "export.beam_size")]:
        code, _, err = run_script(tool, [*bad, "--output", str(tmp_path / "bad")], monkeypatch, capsys)
        assert code == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_predict_tool_prints_json_predictions(image, text, translator, tmp_path, monkeypatch, capsys):
    tool = ROOT / "tools" / "predict.py"
    argv = [str(text[3].parent), "--text", "a great film", "--text", "日本語"]
    code, out, _ = run_script(tool, argv, monkeypatch, capsys)
    result = json.loads(out)
    assert code == 0 and result["signature"] == "serving_default" and len(result["predictions"]) == 2
    assert result["predictions"][1]["text"] == "日本語" and result["predictions"][0]["label_name"] in ("neg", "pos")
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    code, out, _ = run_script(tool, [str(image[2]), "--image-npy", str(tmp_path / "one.npy")], monkeypatch, capsys)
    assert code == 0 and len(json.loads(out)["predictions"][0]["probabilities"]) == 10
    code, out, _ = run_script(tool, [str(translator[3]), "--text", SOURCES[0]], monkeypatch, capsys)
    assert code == 0 and isinstance(json.loads(out)["predictions"][0]["translation"], str)
    code, _, err = run_script(tool, [str(tmp_path), "--text", "x"], monkeypatch, capsys)
    assert code == 2 and "holds no SavedModel" in err
    code, _, err = run_script(tool, [str(image[2]), "--user-id", "1", "--k", "2"], monkeypatch, capsys)
    assert code == 2 and "no 'recommend' signature" in err


def test_predict_tool_scores_and_recommends(recommender, monkeypatch, capsys):
    tool, export = ROOT / "tools" / "predict.py", str(recommender[3])
    code, out, _ = run_script(tool, [export, "--user-id", "1000", "999999", "--k", "3"], monkeypatch, capsys)
    rows = json.loads(out)["predictions"]
    assert code == 0 and [len(r["item_ids"]) for r in rows] == [3, 3] and rows[1]["user_id"] == 999999
    code, out, _ = run_script(tool, [export, "--user-id", "1000", "--item-id", "5"], monkeypatch, capsys)
    assert code == 0 and 0 < json.loads(out)["predictions"][0]["score"] < 1
    code, _, err = run_script(tool, [export, "--user-id", "1000"], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ")
    code, out, err = run_script(tool, [export, "--user-id", "1000", "--k", "-2"], monkeypatch, capsys)
    assert code == 2 and out == "" and err.startswith("error: ") and "--k" in err and len(err.splitlines()) == 1, err


def test_serving_bleu_of_the_translator_export_matches_its_keras_translations(translator, tmp_path):
    import sacrebleu

    from kzoo import serving_eval
    from kzoo.signatures import scoring

    model, config, preprocessor, path = translator
    keras_out = translate_with_keras(model, config, preprocessor, SOURCES)
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for split, (de, en) in {"train": (SOURCES, TARGETS), "test_2016_flickr": (SOURCES, TARGETS)}.items():
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    result = serving_eval.evaluate_export(path, str(folder))
    expected = sacrebleu.corpus_bleu(list(keras_out), [TARGETS]).score
    assert result["entry"] == "transformer_seq2seq" and result["test_examples"] == len(SOURCES)
    assert result["test_bleu"] == pytest.approx(expected)
    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert scoring.evaluate_translation(fn, SOURCES, keras_out, batch_size=3)["test_bleu"] == pytest.approx(100.0)


@pytest.mark.parametrize("fixture", ["translator", "recommender"])
def test_each_weight_is_stored_once(fixture, request):
    # keras-team/keras#23553: without kzoo's unwrapping, ExportArchive stores every weight twice.
    model, *_, path = request.getfixturevalue(fixture)
    reader = tf.train.load_checkpoint(str(Path(path) / "variables" / "variables"))
    stored = sum(int(np.prod(shape)) for key, shape in reader.get_variable_to_shape_map().items()
                 if key.endswith("VARIABLE_VALUE"))
    assert model.count_params() <= stored < model.count_params() + 100


def test_kzoo_loads_a_wordpiece_export_in_a_fresh_process(wordpiece):
    # tools/benchmark.py --serving on a bert_cls export failed with "Op type not registered
    # 'NormalizeUTF8'": the TensorFlow Text ops must be registered before the load.
    _, _, path = wordpiece
    code = ("import sys; import tensorflow as tf; from kzoo.serving_eval import load_saved_model; "
            f"fn = load_saved_model({str(path)!r}).signatures['serving_default']; "
            "print(fn(text=tf.constant(['a great film']))['probabilities'].shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("(1, 2)")


def test_the_size_fix_warns_on_a_keras_it_was_not_checked_on(monkeypatch):
    import types
    import warnings

    import keras

    from kzoo.export import core

    archive = types.SimpleNamespace(_tf_trackable=types.SimpleNamespace(variables=[], trainable_variables=[],
                                                                        non_trainable_variables=[]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        core._store_each_variable_once(archive)  # the checked release: silent
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    monkeypatch.setattr(core, "_warned", set())
    with pytest.warns(UserWarning, match="checked on Keras 3.15, this is 3.99.0"):
        core._store_each_variable_once(archive)


def test_trim_padding_keeps_the_smallest_bucket_that_holds_the_longest_input():
    from kzoo.signatures.text import trim_padding

    def width(lengths, total=100):
        ids = np.zeros((len(lengths), total), "int64")
        for row, n in enumerate(lengths):
            ids[row, :n] = 7
        trimmed = trim_padding(tf.constant(ids)).numpy()
        np.testing.assert_array_equal(trimmed, ids[:, :trimmed.shape[1]])  # only padding was cut
        return trimmed.shape[1]

    assert width([3]) == 16 and width([3, 20]) == 32 and width([0, 0]) == 16
    assert width([70]) == 100  # no bucket between 70 and the full length: the full length
    assert width([5], total=10) == 10  # narrower than every bucket: unchanged
    assert width([300], total=512) == 512


def test_trim_padding_on_the_bucket_edges_never_cuts_a_token():
    from kzoo.signatures.text import BUCKET_WIDTHS, trim_padding

    for bucket in BUCKET_WIDTHS[:-1]:
        for longest, want in ((bucket - 1, bucket), (bucket, bucket), (bucket + 1, 2 * bucket)):
            ids = np.zeros((2, 600), "int64")
            ids[0, :longest] = 7  # the longest input ends exactly around the edge
            ids[1, :3] = 7
            trimmed = trim_padding(tf.constant(ids)).numpy()
            assert trimmed.shape[1] == want, (longest, trimmed.shape)
            assert not ids[:, trimmed.shape[1]:].any()  # everything cut was padding


@pytest.mark.parametrize("name", ["lstm", "transformer_cls", "bert_cls"])
def test_trimmed_text_requests_give_the_fully_padded_outputs(name, tmp_path, tiny_config):
    """Short and long requests, cut to a bucket inside the signature, score as the model does at full length."""
    from kzoo.data.text import TextPreprocessor

    keras.utils.set_random_seed(0)
    length = {"data.sequence_length": 64}
    if name != "lstm":  # the position table must hold the full length
        length["model.max_sequence_length" if name == "bert_cls" else "model.max_length"] = 64
    base = tiny_config(name, **length)
    tokenizer = "wordpiece" if name == "bert_cls" else "word"
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(TEXTS), 64, base["model"]["vocab_size"],
                                    tokenizer=tokenizer)
    config = tiny_config(name, **length, **{"model.vocab_size": fitted.vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    serve = tf.saved_model.load(str(export_model(model, config, fitted, tmp_path / "export"))).signatures[
        "serving_default"]
    for texts in (["great film"], ["great film", "worst plot " * 12], TEXTS):
        padded = fitted(texts)
        assert padded.shape[1] == 64
        got = serve(text=tf.constant(texts))["probabilities"].numpy()
        np.testing.assert_allclose(got, softmax(model(padded)), atol=2e-6)


def test_a_text_export_carries_no_adapt_time_mutable_table(text):
    """The exported graph holds the static vocabulary lookup only, not adapt's token-count table."""
    from tensorflow.core.protobuf import saved_model_pb2

    export = Path(text[3])
    saved = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    assert any("HashTable" in op for op in ops)  # the vocabulary lookup is there
    assert not any(op.startswith("MutableHashTable") for op in ops), sorted(o for o in ops if "Table" in o)
