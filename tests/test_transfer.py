"""Transfer learning from a published checkpoint: a Hugging Face `transformers` BERT directory fine-tunes,
exports and publishes through kzoo; head/tail truncation; few-label subsets.

The checkpoint is written by the test itself (config.json with `model_type: bert`, safetensors weights
from NumPy, vocab.txt): the layout of every BERT on the Hugging Face Hub, at a size that trains in seconds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo import pretrained
from kzoo.data import synthetic
from kzoo.data.text import load_text_data
from kzoo.data.text_preprocessing import TextPreprocessor
from kzoo.errors import ConfigError, DataError
from kzoo.run_dir import RunDir
from kzoo.training.runner import resolve_config

ROOT = Path(__file__).resolve().parents[1]
HIDDEN, INTERMEDIATE, POSITIONS = 16, 32, 24
SPECIALS = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # [PAD] = 0, the others where BERT's are not


def write_transformers_bert(directory: Path, seed: int = 0, model_type: str = "bert") -> dict:
    """Write a one-layer BERT in the Hugging Face transformers layout; return its NumPy weights by HF key."""
    from safetensors.numpy import save_file

    words = list(dict.fromkeys(synthetic.NEUTRAL + [w for ws in synthetic._class_words(2) for w in ws]))
    vocabulary = SPECIALS + words
    rng = np.random.default_rng(seed)

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.02).astype("float32")

    h, i = HIDDEN, INTERMEDIATE
    tensors = {"embeddings.word_embeddings.weight": weight(len(vocabulary), h),
               "embeddings.position_embeddings.weight": weight(POSITIONS, h),
               "embeddings.token_type_embeddings.weight": weight(2, h),
               "embeddings.LayerNorm.weight": np.ones(h, "float32"), "embeddings.LayerNorm.bias": np.zeros(h, "float32"),
               "pooler.dense.weight": weight(h, h), "pooler.dense.bias": np.zeros(h, "float32")}
    layer = "encoder.layer.0."
    for name, shape in [("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                        ("attention.self.value", (h, h)), ("attention.output.dense", (h, h)),
                        ("intermediate.dense", (i, h)), ("output.dense", (h, i))]:
        tensors[f"{layer}{name}.weight"] = weight(*shape)  # torch Linear: [out, in]
        tensors[f"{layer}{name}.bias"] = np.zeros(shape[0], "float32")
    for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
        tensors[f"{layer}{norm}.weight"] = np.ones(h, "float32")
        tensors[f"{layer}{norm}.bias"] = np.zeros(h, "float32")
    directory.mkdir(parents=True, exist_ok=True)
    save_file({f"bert.{k}": v for k, v in tensors.items()}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "_name_or_path": "kzoo-tests/tiny-bert", "architectures": ["BertModel"], "model_type": model_type,
        "vocab_size": len(vocabulary), "hidden_size": h, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": i, "max_position_embeddings": POSITIONS, "type_vocab_size": 2,
        "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}))
    (directory / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "strip_accents": None,
                                                                 "tokenizer_class": "BertTokenizer"}))
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny-bert\n")
    return tensors


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """`(directory, weights)` of a tiny transformers-format BERT checkpoint."""
    directory = tmp_path_factory.mktemp("hf") / "tiny-bert"
    return directory, write_transformers_bert(directory)


def _train(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def fine_tuned(checkpoint, tmp_path_factory):
    """A tiny bert_cls run fine-tuned from the checkpoint through tools/train.py, head+tail truncation."""
    out = tmp_path_factory.mktemp("ft") / "run"
    done = _train("--model", "bert_cls", "--tiny", "--data", "synthetic", "--output", str(out),
                  "--set", f"model.preset={checkpoint[0]}", "--set", "data.truncation=head_tail",
                  "--set", "data.sequence_length=20", "--set", "data.synthetic_size=600",
                  "--set", "train.learning_rate=0.003", "--set", "train.epochs=2")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.smoke
def test_keras_hub_reads_the_transformers_checkpoint_config_tokenizer_and_weights(checkpoint):
    directory, weights = checkpoint
    config = pretrained.backbone_config(str(directory))
    assert (config["hidden_dim"], config["num_layers"], config["max_sequence_length"]) == (HIDDEN, 1, POSITIONS)
    settings = pretrained.tokenizer_settings(str(directory))
    assert settings["vocabulary"] == (directory / "vocab.txt").read_text().split("\n")[:-1]
    # Hugging Face's rule: strip_accents None follows do_lower_case.
    assert settings["lowercase"] and settings["strip_accents"]
    backbone = pretrained.load_backbone(str(directory))
    np.testing.assert_array_equal(backbone.get_layer("token_embedding").embeddings.numpy(),
                                  weights["embeddings.word_embeddings.weight"])
    card = pretrained.checkpoint_card(str(directory))
    assert card["format"] == "Hugging Face transformers" and card["license"] == "apache-2.0"
    assert "kzoo-tests/tiny-bert" in card["source"]


def test_fine_tuning_exports_the_same_outputs_and_publishes_a_card_naming_the_base(fine_tuned, checkpoint, tmp_path):
    run = RunDir(fine_tuned)
    metrics = json.loads((fine_tuned / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6  # the synthetic classes are learnable from the checkpoint's vocabulary
    preprocessor = run.preprocessor()
    assert preprocessor.vocabulary == pretrained.tokenizer_settings(str(checkpoint[0]))["vocabulary"]
    assert preprocessor.truncation == "head_tail"
    # The raw-string SavedModel tokenises as training did (head+tail cut inside the graph) and scores alike.
    long_review = " ".join(synthetic.NEUTRAL[:30] + ["excellent"] * 3)
    texts = ["a wonderful film", long_review, "dull and far too long " * 6]
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    served = serve(text=tf.constant(texts))["probabilities"].numpy()
    expected = keras.ops.softmax(run.load_model()(preprocessor(texts)), axis=-1)
    np.testing.assert_allclose(served, np.asarray(expected), atol=1e-5)
    # The run's card and a published preset's card name the base checkpoint and its licence.
    assert "base checkpoint" in (fine_tuned / "README.md").read_text() and "apache-2.0" in \
        (fine_tuned / "README.md").read_text()
    preset = tmp_path / "preset"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), str(fine_tuned), "--preset", str(preset)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    card = (preset / "README.md").read_text()
    assert f"base checkpoint: `{checkpoint[0]}`" in card and "licence: apache-2.0" in card


def test_a_sequence_length_above_the_checkpoints_is_refused_in_one_line(checkpoint, tmp_path):
    out = tmp_path / "run"
    done = _train("--model", "bert_cls", "--tiny", "--data", "synthetic", "--output", str(out),
                  "--set", f"model.preset={checkpoint[0]}", "--set", f"data.sequence_length={POSITIONS + 8}")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(POSITIONS + 8) in lines[0] and str(POSITIONS) in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_a_checkpoint_that_is_not_bert_is_refused_in_one_line(tmp_path):
    gpt = tmp_path / "gpt"
    gpt.mkdir()
    (gpt / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": 10, "n_embd": 8, "n_layer": 1,
                                                 "n_head": 2, "n_positions": 16}))
    with pytest.raises(ConfigError, match="GPT2Backbone, not a BertBackbone"):
        pretrained.backbone_config(str(gpt))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"entry": "lstm", "model": {"units": 8}}))
    with pytest.raises(ConfigError, match="cannot read it as a model checkpoint") as error:
        pretrained.backbone_config(str(foreign))
    assert "\n" not in str(error.value) and "units" not in str(error.value)  # not keras-hub's dump of the file
    (foreign / "config.json").write_text(json.dumps({"kzoo_preset": 1, "entry": "lstm", "config": {}}))
    with pytest.raises(ConfigError, match="is a kzoo preset of 'lstm'.*--init-from"):
        pretrained.backbone_config(str(foreign))


def test_head_tail_truncation_keeps_the_opening_and_the_end():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + [f"w{i}" for i in range(30)]
    text = " ".join(f"w{i}" for i in range(30))
    ids = {t: TextPreprocessor(vocabulary, 10, len(vocabulary), "wordpiece", truncation=t)([text, "w3 w4"]).numpy()
           for t in ("head", "tail", "head_tail")}
    word = {f"w{i}": 4 + i for i in range(30)}
    cls, sep = 2, 3
    # 8 pieces fit between [CLS] and [SEP]: head_tail keeps 8 // 4 = 2 from the start and 6 from the end.
    assert ids["head_tail"][0].tolist() == [cls, word["w0"], word["w1"], *[word[f"w{i}"] for i in range(24, 30)], sep]
    assert ids["head"][0].tolist() == [cls, *[word[f"w{i}"] for i in range(8)], sep]
    assert ids["tail"][0].tolist() == [cls, *[word[f"w{i}"] for i in range(22, 30)], sep]
    for kind in ids:  # a text that fits is kept whole whatever the choice
        assert ids[kind][1].tolist() == [cls, word["w3"], word["w4"], sep] + [0] * 6


def test_truncation_of_word_inputs_is_refused():
    from kzoo.tasks import get_task

    config = resolve_config("lstm", overrides={"data.truncation": "tail"}, tiny=True)
    with pytest.raises(ConfigError, match="data.truncation=tail cuts WordPiece inputs"):
        get_task(config).check_config(config)


def _ids(dataset) -> list:
    return sorted(tuple(row) for x, _ in dataset for row in x.numpy().tolist())


def test_train_examples_is_a_balanced_subset_and_leaves_the_test_split_alone():
    sizes = {"data.synthetic_size": 800, "data.val_fraction": 0.2}
    few = load_text_data(resolve_config("lstm", overrides={**sizes, "data.train_examples": 100}), "synthetic", None,
                         seed=3, batch_size=64, shard=None)
    assert few.sizes["train"] + few.sizes["val"] == 100 and few.sizes["val"] == 20
    labels = np.concatenate([y.numpy() for _, y in few.train] + [y.numpy() for _, y in few.val])
    assert np.bincount(labels).tolist() == [50, 50]
    assert any("class-balanced subset of 100" in note for note in few.notes)
    # The test split holds the same reviews with and without the subset (ids compared in one vocabulary).
    full = load_text_data(resolve_config("lstm", overrides=sizes), "synthetic", None, seed=3, batch_size=64,
                          shard=None, preprocessor=few.preprocessor)
    assert full.sizes["test"] == few.sizes["test"] and _ids(full.test) == _ids(few.test)
    with pytest.raises(DataError, match="data.train_examples=5000"):
        load_text_data(resolve_config("lstm", overrides={**sizes, "data.train_examples": 5000}), "synthetic", None,
                       seed=3, batch_size=64, shard=None)


SHARED_CHECKPOINT = ROOT.parent / "shared" / "checkpoints" / "all-MiniLM-L6-v2"


@pytest.mark.slow
def test_the_published_minilm_checkpoint_fine_tunes_on_imdb_exports_and_publishes(shared_datasets, tmp_path):
    """The same chain on the real published checkpoint and real IMDB reviews (a few hundred, 64 tokens)."""
    if not SHARED_CHECKPOINT.is_dir():
        pytest.skip(f"published checkpoint not found at {SHARED_CHECKPOINT}")
    out = tmp_path / "run"
    done = _train("--model", "bert_cls", "--data-dir", str(shared_datasets / "tfds"), "--output", str(out),
                  "--set", f"model.preset={SHARED_CHECKPOINT}", "--set", "data.sequence_length=64",
                  "--set", "data.truncation=head_tail", "--set", "data.train_examples=320",
                  "--set", "data.test_examples=200", "--set", "train.learning_rate=5e-5", "--set", "train.epochs=2",
                  "--set", "train.batch_size=16", "--set", "train.warmup_steps=4", "--mixed-precision")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.6 and metrics["data"]["sizes"]["test"] == 200
    assert metrics["base_checkpoint"]["license"] == "apache-2.0"
    run = RunDir(out)
    texts = ["An excellent, moving film with a superb cast.", "Dull, far too long and badly acted."]
    served = tf.saved_model.load(metrics["export"]).signatures["serving_default"](text=tf.constant(texts))
    expected = keras.ops.softmax(run.load_model()(run.preprocessor()(texts)), axis=-1)
    np.testing.assert_allclose(served["probabilities"].numpy(), np.asarray(expected), atol=1e-3)
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), str(out), "--preset",
                           str(tmp_path / "preset")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "licence: apache-2.0" in (tmp_path / "preset" / "README.md").read_text()


def test_the_fine_tuned_checkpoint_converts_to_litert_and_onnx_and_predicts(fine_tuned, tmp_path):
    """Tensor exports pass their export-time parity check; kzoo-predict serves raw text from the SavedModel."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "export.py"), str(fine_tuned), "--format",
                           "litert,onnx", "--output", str(tmp_path / "portable")], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "portable" / "onnx" / "1" / "model.onnx").is_file()
    assert (tmp_path / "portable" / "litert" / "1" / "model.tflite").is_file()
    export = json.loads((fine_tuned / "metrics.json").read_text())["export"]
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "predict.py"), export, "--text", "excellent superb"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    prediction = json.loads(done.stdout)["predictions"][0]
    assert prediction["label_name"] == ("neg", "pos")[prediction["label"]]
    assert abs(sum(prediction["probabilities"]) - 1) < 1e-4
