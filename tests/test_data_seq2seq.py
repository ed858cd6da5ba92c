"""Seq2seq data: parallel files, TSV pairs, synthetic pairs, target encoding, detokenizing, BLEU."""

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data import DataError
from kzoo.tasks import load_data
from kzoo.data.bleu import make_bleu_evaluator
from kzoo.data.seq2seq_preprocessing import END_ID, START_ID, Seq2SeqPreprocessor
from kzoo.data.synthetic import synthetic_pairs

DE = ["Ein Mann läuft.", "Zwei Hunde spielen im Park.", "Eine Frau liest ein Buch."]
EN = ["A man runs.", "Two dogs play in the park.", "A woman reads a book."]


@pytest.fixture
def config():
    config = kzoo.get_config("transformer_seq2seq", {"data.source_length": 10, "data.target_length": 9,
                                                     "model.source_vocab_size": 60, "model.target_vocab_size": 60})
    config = config.override({"data.synthetic_size": 200})
    return config


def _write_parallel(folder, test_prefix="test_2016_flickr"):
    folder.mkdir()
    for prefix in ("train", "val", test_prefix):
        (folder / f"{prefix}.de").write_text("\n".join(DE) + "\n", encoding="utf-8")
        (folder / f"{prefix}.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
    return folder


def test_parallel_folder(config, tmp_path):
    bundle = load_data(config, str(_write_parallel(tmp_path / "m30k")), batch_size=2)
    assert bundle.source == "files" and bundle.sizes == {"train": 3, "val": 3, "test": 3}
    inputs, targets = next(iter(bundle.test))
    assert set(inputs) == {"encoder_inputs", "decoder_inputs"}
    assert inputs["encoder_inputs"].shape == (2, 10) and inputs["decoder_inputs"].shape == (2, 9)
    assert inputs["encoder_inputs"].dtype == tf.int32 and targets.dtype == tf.int32
    dec, tgt = inputs["decoder_inputs"].numpy(), targets.numpy()
    assert (dec[:, 0] == START_ID).all()
    np.testing.assert_array_equal(dec[:, 1:][tgt[:, :-1] != END_ID], tgt[:, :-1][tgt[:, :-1] != END_ID])
    assert (tgt == END_ID).sum(axis=1).tolist() == [1, 1]
    assert bundle.preprocessor.detokenize(targets).numpy()[0].decode() == EN[0]


def test_plain_test_files_are_found(config, tmp_path):
    bundle = load_data(config, str(_write_parallel(tmp_path / "pairs", test_prefix="test")), batch_size=2)
    assert bundle.sizes["test"] == 3


@pytest.mark.smoke
def test_tsv_pairs_carve_val_and_test(config, tmp_path):
    path = tmp_path / "pairs.tsv"
    lines = [f"{d}\t{e}\tcc-by" for d, e in zip(DE * 10, EN * 10)]
    path.write_text("\n".join(lines[:15] + [""] + lines[15:]) + "\n", encoding="utf-8")
    bundle = load_data(config, str(path), batch_size=4)
    assert sum(bundle.sizes[s] for s in ("train", "val", "test")) == 30
    assert bundle.sizes["test"] == 3 and bundle.sizes["val"] == 3
    assert any("skipped 1 blank" in n for n in bundle.notes)


def test_tsv_line_without_tab(config, tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hallo\tHello\nkaputt\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.tsv:2: expected 'source<TAB>target'"):
        load_data(config, str(path))


def test_misaligned_parallel_files(config, tmp_path):
    folder = _write_parallel(tmp_path / "m30k")
    (folder / "train.en").write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.de has 3 lines but .*train.en has 2"):
        load_data(config, str(folder))


def test_undecodable_parallel_line(config, tmp_path):
    folder = _write_parallel(tmp_path / "m30k")
    (folder / "train.de").write_bytes(b"gut\nschlecht \xc3\x28\nok\n")
    with pytest.raises(DataError, match=r"train.de:2: text is not valid UTF-8"):
        load_data(config, str(folder))


def test_folder_without_pairs(config, tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"expected train.de and train.en"):
        load_data(config, str(tmp_path))


def test_preprocessor_save_load_and_punctuation(tmp_path):
    pre = Seq2SeqPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(DE), tf.data.Dataset.from_tensor_slices(EN),
                                    10, 12, 50, 50)
    assert pre.target_vocabulary[:4] == ["", "[UNK]", "[START]", "[END]"]
    assert "." in pre.target_vocabulary and "runs." not in pre.target_vocabulary
    pre.save(tmp_path / "pre")
    loaded = Seq2SeqPreprocessor.load(tmp_path / "pre")
    a, b = pre(DE, EN), loaded(DE, EN)
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    np.testing.assert_array_equal(a[0]["encoder_inputs"].numpy(), b[0]["encoder_inputs"].numpy())
    assert [s.decode() for s in loaded.detokenize(a[1]).numpy()] == EN
    assert loaded.model_overrides() == pre.model_overrides()


def test_detokenize_stops_at_end(tmp_path):
    pre = Seq2SeqPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(DE), tf.data.Dataset.from_tensor_slices(EN),
                                    10, 12, 50, 50)
    ids = pre.encode_target(["A man runs."])[1].numpy()
    ids = np.concatenate([ids, ids], axis=1)  # tokens after [END] are ignored
    assert pre.detokenize(ids).numpy()[0].decode() == "A man runs."


def test_synthetic_pairs_deterministic_with_word_dictionary():
    a, b = synthetic_pairs({"train": 50}, seed=2), synthetic_pairs({"train": 50}, seed=2)
    assert np.array_equal(a["train"][0], b["train"][0])
    src, tgt = a["train"][0][0].rstrip(".").split(), a["train"][1][0].rstrip(".").split()
    assert len(src) == len(tgt) == 7
    from kzoo.data.synthetic import NOUNS
    assert NOUNS[src[1]] == tgt[2]  # the noun moved before its adjective


def test_bleu_evaluator_with_a_perfect_decoder(config):
    bundle = load_data(config, "synthetic", batch_size=16)
    pre = bundle.preprocessor
    pairs = synthetic_pairs({"train": 200, "val": 20, "test": 20}, seed=0)
    lookup = {s: t for s, t in zip(*pairs["test"])}
    oracle_targets = pre.encode_target([lookup[s] for s in pairs["test"][0]])[1]

    def decode_fn(model, encoder_inputs, max_length, start_id, end_id):
        return oracle_targets[: tf.shape(encoder_inputs)[0]]

    evaluate = make_bleu_evaluator(pre, {"test": pairs["test"]}, decode_fn, batch_size=64)
    result = evaluate(model=None, split="test")
    assert result["bleu"] > 99 and result["bleu_examples"] == 20
    with pytest.raises(ValueError, match="no split 'dev'"):
        evaluate(None, "dev")


@pytest.mark.parametrize("beam_size", [1, 3])
def test_bundle_evaluate_scores_the_bleu_of_translations_decoded_as_the_export_decodes(config, beam_size, tmp_path):
    import keras
    import sacrebleu

    from kzoo.models.transformer_seq2seq import decode

    config = config.override({"export.beam_size": beam_size, "export.length_penalty": 0.6})
    first = load_data(config, str(_write_parallel(tmp_path / "m30k")), batch_size=2)
    assert first.evaluate is not None  # the translation task gives its decoding loop
    pre = first.preprocessor
    keras.utils.set_random_seed(0)
    model = kzoo.build_from_config(kzoo.get_config("transformer_seq2seq", {
        **{f"model.{k}": v for k, v in pre.model_overrides().items()}, "model.max_length": 12, "model.d_model": 16,
        "model.num_heads": 2, "model.ff_dim": 32, "model.encoder_layers": 1, "model.decoder_layers": 1}))
    rng = np.random.default_rng(0)  # large random embeddings: varied, non-empty translations
    for layer in model.get_layer("encoder").layers + model.get_layer("decoder").layers:
        if "embedding" in layer.name:
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    ids = decode(model, pre.encode_source(DE), pre.target_length, pre.start_id, pre.end_id, beam_size, 0.6)
    translations = [t.decode("utf-8") for t in pre.detokenize(ids).numpy()]
    # References the model gets partly right (two of three rows are its own output): a BLEU strictly inside (0, 100).
    # (An empty translation would write a blank reference line, which the reader drops with its pair.)
    references = [t or "empty" for t in translations[:2]] + ["the reference nobody produced here"]
    expected = sacrebleu.corpus_bleu(translations, [references]).score
    assert 0 < expected < 100, translations
    folder = _write_parallel(tmp_path / "scored")
    (folder / "test_2016_flickr.en").write_text("\n".join(references) + "\n", encoding="utf-8")
    result = load_data(config, str(folder), batch_size=2, preprocessor=pre).evaluate(model, "test")
    assert result["bleu"] == pytest.approx(expected) and result["bleu_examples"] == 3
    assert {"loss", "accuracy"} <= set(result)


def test_auto_without_raw_folder_uses_synthetic(config, tmp_path, capsys):
    bundle = load_data(config, "auto", data_dir=str(tmp_path), batch_size=16)
    assert bundle.source == "synthetic" and "synthetic" in capsys.readouterr().out
    assert any("multi30k" in note for note in bundle.notes)


def test_tfds_source_offline_fails_fast(config, tmp_path, monkeypatch):
    from kzoo.data import DataUnavailableError, tfds_source

    monkeypatch.setattr(tfds_source, "network_reachable", lambda *a, **k: False)
    with pytest.raises(DataUnavailableError, match="wmt14_translate/de-en"):
        load_data(config, "tfds", data_dir=str(tmp_path))
