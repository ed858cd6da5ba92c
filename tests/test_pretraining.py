"""Pre-train -> fine-tune: `bert_mlm` writes a keras-hub preset that `bert_cls` fine-tunes from, with or without LoRA."""

import json
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import pretrained
from kzoo.errors import ConfigError
from kzoo.run_dir import RunDir
from kzoo.training import train
from kzoo.training.lora import LoRA, backbones, merged_copy

# A preset whose 16 positions fit bert_cls's tiny sequence length (12).
TINY_MLM = {"train.epochs": 2, "data.synthetic_size": 400}


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """A finished tiny bert_mlm run on synthetic reviews (its preset in `preset/`)."""
    out = tmp_path_factory.mktemp("mlm") / "run"
    metrics = train("bert_mlm", tiny=True, data="synthetic", output=str(out), overrides=TINY_MLM, verbose=0)
    return out, metrics


def test_pretraining_learns_and_writes_a_preset_keras_hub_loads_alone(pretrained_run):
    out, metrics = pretrained_run
    history = metrics["history"]
    assert history["val_loss"][-1] < history["val_loss"][0]  # masked-token loss falls on held-out text
    assert metrics["status"] == "finished" and metrics["preset"] == str(out / "preset")
    assert "export" not in metrics  # the preset is the output, not a SavedModel
    assert metrics["data"]["sizes"]["test"] == 0
    # The run gets its model card although nothing is exported.
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "bert_mlm" in card
    # keras-hub alone (a fresh interpreter without kzoo imported) loads backbone and tokenizer.
    code = ("import sys, keras_hub; p = sys.argv[1]; "
            "b = keras_hub.models.BertBackbone.from_preset(p); t = keras_hub.tokenizers.BertTokenizer.from_preset(p); "
            "print(b.vocabulary_size, t.vocabulary_size(), t.token_to_id('[MASK]'))")
    result = subprocess.run([sys.executable, "-c", code, str(out / "preset")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    vocabulary = (out / "preprocessing" / "vocabulary.txt").read_text().split("\n")
    assert result.stdout.split() == [str(len(vocabulary))] * 2 + [str(vocabulary.index("[MASK]"))]
    # The preset's backbone is the trained one.
    trained = RunDir(out).load_model().backbone
    loaded = keras_hub.models.BertBackbone.from_preset(str(out / "preset"))
    for got, want in zip(loaded.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_fine_tuning_from_the_preset_reuses_its_vocabulary_and_weights(pretrained_run, tmp_path):
    preset = pretrained_run[0] / "preset"
    out = tmp_path / "cls"
    metrics = train("bert_cls", tiny=True, data="synthetic", output=str(out), verbose=0,
                    overrides={"model.preset": str(preset)})
    run = RunDir(out)
    assert (out / "preprocessing" / "vocabulary.txt").read_text().split() == \
        (preset / "assets" / "tokenizer" / "vocabulary.txt").read_text().split()
    assert any("none learned" in note for note in metrics["data"]["notes"])
    assert run.config()["model"]["vocab_size"] == keras_hub.models.BertBackbone.from_preset(str(preset)).vocabulary_size
    # Built from the preset: before any training the backbone holds the preset's weights.
    fresh = kzoo.build("bert_cls", preset=str(preset), compile=False)
    want = keras_hub.models.BertBackbone.from_preset(str(preset)).get_weights()
    for got, expected in zip(fresh.get_layer("backbone").get_weights(), want):
        np.testing.assert_array_equal(got, expected)
    # The export serves raw strings with the preset's tokenizer inside the graph.
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    texts = ["a wonderful film", "dull and far too long"]
    scores = serve(text=tf.constant(texts))["probabilities"].numpy()
    model = run.load_model()
    expected = keras.ops.softmax(model(run.preprocessor()(texts)), axis=-1)
    np.testing.assert_allclose(scores, np.asarray(expected), atol=1e-5)


def test_a_test_split_is_refused_for_pretraining_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "tools/train.py", "--model", "bert_mlm", "--tiny", "--data", "synthetic", "--output", str(out),
         "--set", "data.splits=[unsupervised,test]"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: data.splits includes 'test'") and "Traceback" not in result.stderr
    assert not out.exists()


def test_an_unreachable_hub_preset_fails_in_one_line(monkeypatch):
    monkeypatch.setattr("kzoo.pretrained.network_reachable", lambda *args, **kwargs: False)
    for handle in ("hf://nobody/no-such-model", "kaggle://keras/bert/keras/bert_tiny_en_uncased", "bert_tiny_en_uncased"):
        with pytest.raises(ConfigError, match="cannot be reached"):
            pretrained.check_handle(handle)
    with pytest.raises(ConfigError, match="no such directory"):
        pretrained.check_handle("path/to/missing/preset")
    with pytest.raises(ConfigError, match="unknown scheme"):
        pretrained.check_handle("ftp://somewhere/preset")


def test_lora_trains_only_the_factors_and_the_head_and_exports_merged_weights(pretrained_run, tmp_path):
    preset = str(pretrained_run[0] / "preset")
    out = tmp_path / "lora"
    metrics = train("bert_cls", tiny=True, data="synthetic", output=str(out), verbose=0,
                    overrides={"model.preset": preset, "train.lora_rank": 2, "train.learning_rate": 0.01})
    lora = metrics["lora"]
    assert lora["rank"] == 2 and 0 < lora["trainable_parameters"] < 0.5 * lora["total_parameters"]
    saved = RunDir(out).load_model()
    assert not any(getattr(layer, "lora_enabled", False) for layer in saved._flatten_layers())  # plain weights
    assert metrics["parameters"] == saved.count_params() < lora["total_parameters"]
    start = keras_hub.models.BertBackbone.from_preset(preset)
    changed = {w.path for w, before in zip(saved.get_layer("backbone").weights, start.weights)
               if not np.array_equal(np.asarray(w), np.asarray(before))}
    # Only the attention query/value projections moved (LoRA factors merged into the kernels; keras
    # leaves their biases trainable); embeddings, keys,
    # feed-forward and norms are the preset's.
    assert changed and all(("/query/" in p or "/value/" in p) for p in changed), changed


def test_merging_lora_keeps_the_outputs(pretrained_run):
    preset = str(pretrained_run[0] / "preset")
    config = kzoo.get_config("bert_cls", {"model.preset": preset, "train.lora_rank": 2}, tiny=True)
    config = config.override({"model.vocab_size": keras_hub.models.BertBackbone.from_preset(preset).vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    LoRA().init_weights(model, config)
    rng = np.random.default_rng(0)
    for layer in backbones(model)[0]._flatten_layers():
        if getattr(layer, "lora_enabled", False):  # B starts at zero; give it values so the merge matters
            layer.lora_kernel_b.assign(rng.normal(size=layer.lora_kernel_b.shape).astype("float32"))
    x, _ = kzoo.example_batch(config)
    plain = merged_copy(model, config)
    assert not any(getattr(layer, "lora_enabled", False) for layer in plain._flatten_layers())
    assert not np.allclose(plain(x), kzoo.build_from_config(config, compile=False)(x), atol=1e-4)
    np.testing.assert_allclose(plain(x), model(x), atol=1e-5)


def test_a_lora_rank_not_below_the_adapted_layers_width_is_refused(pretrained_run):
    preset = str(pretrained_run[0] / "preset")
    config = kzoo.get_config("bert_cls", {"model.preset": preset, "train.lora_rank": 4096}, tiny=True)
    config = config.override({"model.vocab_size": keras_hub.models.BertBackbone.from_preset(preset).vocabulary_size})
    model = kzoo.build_from_config(config, compile=False)
    query = next(layer for layer in backbones(model)[0]._flatten_layers() if layer.name == "query")
    width = min(int(np.prod(query.kernel.shape[:-1])), int(query.kernel.shape[-1]))  # tiny: the head size
    for rank in (4096, width):
        config = config.override({"train.lora_rank": rank})
        with pytest.raises(ConfigError, match=rf"train.lora_rank={rank} is not below the width .* < {width}"):
            LoRA().init_weights(model, config)
    assert not any(getattr(layer, "lora_enabled", False) for layer in model._flatten_layers())
    config = config.override({"train.lora_rank": width - 1})
    LoRA().init_weights(model, config)


def test_lora_needs_a_preset():
    with pytest.raises(ConfigError, match="model.preset"):
        LoRA().check(kzoo.get_config("bert_cls", {"train.lora_rank": 4}))
    with pytest.raises(ConfigError, match="no pretrained keras-hub backbone"):
        LoRA().check(kzoo.get_config("lstm", {"train.lora_rank": 4}))


def test_a_preset_too_short_for_the_sequence_length_is_refused(pretrained_run):
    preset = str(pretrained_run[0] / "preset")
    config = kzoo.get_config("bert_cls", {"model.preset": preset, "data.sequence_length": 64}, tiny=True)
    from kzoo.tasks import get_task

    with pytest.raises(ConfigError, match="data.sequence_length=64 is longer than preset"):
        get_task(config).check_config(config)
    assert json.loads((pretrained_run[0] / "preset" / "config.json").read_text())["config"]["max_sequence_length"] == 16


def test_the_users_own_text_file_or_folder_becomes_masked_batches(tmp_path):
    from kzoo.tasks import load_data

    rng = np.random.default_rng(0)
    words = ["film", "actor", "plot", "great", "dull", "scene", "music", "ending", "story", "camera"]
    documents = [" ".join(rng.choice(words, size=rng.integers(3, 30))) for _ in range(120)]
    lines = tmp_path / "texts.txt"
    lines.write_text("\n\n".join(documents) + "\n", encoding="utf-8")  # blank lines between documents
    folder = tmp_path / "docs"
    (folder / "part").mkdir(parents=True)
    for i, text in enumerate(documents):
        (folder / ("part" if i % 2 else "") / f"{i}.txt").write_text(text, encoding="utf-8")
    config = kzoo.get_config("bert_mlm", {"data.val_fraction": 0.1, "data.length_sorted_chunks": 2}, tiny=True)
    for source in (lines, folder):
        bundle = load_data(config, source=str(source), seed=0)
        assert (bundle.source, bundle.sizes["train"] + bundle.sizes["val"]) == ("files", 120)
        vocabulary = bundle.preprocessor.vocabulary
        mask_id = vocabulary.index("[MASK]")
        picked, targets = [], []
        for inputs, mask_ids, weights in bundle.train:
            ids, positions = inputs["token_ids"].numpy(), inputs["mask_positions"].numpy()
            real, chosen = inputs["padding_mask"].numpy(), weights.numpy() > 0
            assert positions.shape[1] == int(np.ceil(ids.shape[1] * 0.15))  # cut to what the width can hold
            assert np.all(np.take_along_axis(real, positions, axis=1)[chosen])  # never padding
            picked.append(np.take_along_axis(ids, positions, axis=1)[chosen])
            targets.append(mask_ids.numpy()[chosen])
        assert 0.6 < (np.concatenate(picked) == mask_id).mean() < 0.95  # ~80 % shown as [MASK]
        assert not set(np.concatenate(targets)) & {0, 2, 3, mask_id}  # never [PAD], [CLS], [SEP]
    assert any("blank line" in note for note in load_data(config, source=str(lines), seed=0).notes)


def test_data_mask_rate_sets_the_share_of_tokens_predicted():
    from kzoo.tasks import load_data

    shares = {}
    for rate in (0.15, 0.5):
        config = kzoo.get_config("bert_mlm", {"data.mask_rate": rate, "data.synthetic_size": 200}, tiny=True)
        bundle = load_data(config, source="synthetic", data_dir=None, seed=0, batch_size=32)
        chosen = real = 0
        for inputs, _, weights in bundle.train:
            tokens = inputs["padding_mask"].numpy()
            real += int(tokens.sum()) - 2 * len(tokens)  # [CLS] and [SEP] are never chosen
            chosen += float(weights.numpy().sum())
        shares[rate] = chosen / real
    # Tiny rows hold about 10 real tokens: 0.15 picks ceil(12 * 0.15) = 2 of them at most, 0.5 picks half.
    assert 0.1 <= shares[0.15] <= 0.25 and 0.45 <= shares[0.5] <= 0.55, shares
