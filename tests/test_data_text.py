"""Text-classification data: user folders and tables, their errors, vocabulary, preprocessor round trip."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data import DataError
from kzoo.tasks import load_data
from kzoo.data.synthetic import synthetic_reviews
from kzoo.data.text_preprocessing import TextPreprocessor

TRAIN = {
    "pos": ["A great film, great acting!<br />Loved it.", "Wonderful story and great music."],
    "neg": ["Awful plot.<br /><br />Boring and awful.", "A dull, boring movie."],
}
TEST = {"pos": ["Zebraword is great."], "neg": ["Awful zebraword."]}


@pytest.fixture
def config():
    config = kzoo.get_config("lstm", {"data.sequence_length": 12, "model.vocab_size": 100})
    config = config.override({"data.val_fraction": 0.0})
    return config


def _write_acl(root):
    for split, texts in (("train", TRAIN), ("test", TEST)):
        for label, reviews in texts.items():
            folder = root / split / label
            folder.mkdir(parents=True)
            for i, text in enumerate(reviews):
                (folder / f"{i}_7.txt").write_text(text, encoding="utf-8")
    (root / "train" / "unsup").mkdir()
    return root


def _all(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def test_acl_folder(config, tmp_path):
    bundle = load_data(config, str(_write_acl(tmp_path / "aclImdb")), batch_size=4)
    assert bundle.source == "files" and bundle.sizes == {"train": 4, "val": 0, "test": 2}
    assert bundle.val is None
    assert bundle.preprocessor.class_names == ["neg", "pos"]
    x, y = _all(bundle.test)
    assert x.dtype == np.int32 and x.shape == (2, 12) and sorted(y.tolist()) == [0, 1]


def test_vocabulary_learned_on_train_only(config, tmp_path):
    bundle = load_data(config, str(_write_acl(tmp_path / "aclImdb")), batch_size=4)
    vocab = bundle.preprocessor.vocabulary
    assert "zebraword" not in vocab and "great" in vocab and "awful" in vocab
    assert "br" not in vocab and "great," not in vocab  # <br /> and punctuation stripped
    ids = bundle.preprocessor(["zebraword great"]).numpy()[0]
    assert ids[0] == 1 and ids[1] == vocab.index("great") and ids[2] == 0  # OOV -> 1, padding -> 0


def test_vocabulary_leaves_out_the_words_of_the_validation_rows(config, tmp_path):
    from kzoo.data.pipeline import validation_mask

    # One word of its own per row ("solo0" ... "solo19"): the vocabulary shows which rows it read.
    rows = [f"common words solo{i}" for i in range(20)]
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{i % 2}\n" for i, t in enumerate(rows)))
    (tmp_path / "test.csv").write_text("text,label\nunseen words,0\nmore unseen,1\n")
    config = config.override({"data.val_fraction": 0.25})
    seed = 3
    bundle = load_data(config, str(tmp_path), seed=seed, batch_size=4)
    assert bundle.sizes["val"] == 5
    held_out = validation_mask(20, 0.25, seed)  # the rows carve_validation puts in the validation split
    vocab = set(bundle.preprocessor.vocabulary)
    assert {f"solo{i}" for i in np.flatnonzero(~held_out)} <= vocab and "common" in vocab
    assert not {f"solo{i}" for i in np.flatnonzero(held_out)} & vocab
    validation_ids = np.concatenate([x.numpy() for x, _ in bundle.val])
    assert (validation_ids[:, 2] == 1).all()  # each validation row's own word is out of vocabulary there


def test_validation_carved_from_train_only(tmp_path):
    config = kzoo.get_config("lstm", {"data.sequence_length": 12, "model.vocab_size": 100})
    config = config.override({"data.synthetic_size": 200})
    bundle = load_data(config, "synthetic", seed=5, batch_size=32)
    assert bundle.sizes == {"train": 180, "val": 20, "test": 50}
    assert sum(len(y) for _, y in bundle.val) == 20


@pytest.mark.smoke
def test_csv_with_class_names(config, tmp_path):
    (tmp_path / "train.csv").write_text(
        'text,label\n"Great, great film",pos\nawful film,neg\n\nboring film,neg\n', encoding="utf-8")
    (tmp_path / "test.csv").write_text("label,text\npos,great\n", encoding="utf-8")
    bundle = load_data(config, str(tmp_path), batch_size=2)
    assert bundle.preprocessor.class_names == ["neg", "pos"]
    assert bundle.sizes["train"] == 3 and bundle.sizes["test"] == 1
    assert any("skipped 1 blank line" in note for note in bundle.notes)
    assert _all(bundle.test)[1].tolist() == [1]


def test_single_tsv_with_int_labels_holds_out_test(config, tmp_path):
    rows = "".join(f"review number {i} is {'great' if i % 2 else 'awful'}\t{i % 2}\n" for i in range(20))
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\n" + rows, encoding="utf-8")
    bundle = load_data(config, str(path), batch_size=4)
    assert bundle.sizes["train"] + bundle.sizes["test"] == 20 and bundle.sizes["test"] == 4
    assert any("held out as test" in note for note in bundle.notes)


def test_folder_with_only_train_csv_splits_like_the_single_file(config, tmp_path):
    rows = "".join(f"review number {i} is {'great' if i % 2 else 'awful'},{i % 2}\n" for i in range(20))
    (tmp_path / "alone.csv").write_text("text,label\n" + rows, encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "train.csv").write_text("text,label\n" + rows, encoding="utf-8")
    single = load_data(config, str(tmp_path / "alone.csv"), seed=3, batch_size=4)
    folder = load_data(config, str(tmp_path / "folder"), seed=3, batch_size=4)
    assert folder.sizes == single.sizes and folder.sizes["test"] == 4  # data.test_fraction 0.2 of 20 rows
    assert any("train.csv has no separate test data: 4 rows" in note for note in folder.notes)
    assert (_all(folder.test)[0] == _all(single.test)[0]).all()  # the same rows held out, same seed


def test_acl_folder_without_test_folder_holds_out_test_the_same_way(config, tmp_path):
    root = _write_acl(tmp_path / "aclImdb")
    shutil.rmtree(root / "test")
    bundle = load_data(config, str(root), batch_size=4)
    assert bundle.sizes["train"] + bundle.sizes["test"] == 4 and bundle.sizes["test"] == 1  # 0.2 of 4, at least 1
    assert any("train/ has no separate test data" in note for note in bundle.notes)


@pytest.mark.parametrize(
    "content, match",
    [
        ("text,label\ngood,1\nbad,0,extra\n", r"train.csv:3: expected 2 fields"),
        ("text,label\ngood,1\nbad,7\n", r"train.csv:3: label '7' is not one of the known classes"),
        ("review,sentiment\ngood,1\n", r"train.csv:1: header must name 'text' and 'label'"),
        ("text,label\n", r"train.csv: no data rows"),
        ("", r"train.csv: file is empty"),
        ('text,label\n"unterminated,1\n', r"train.csv:\d+: malformed"),
    ],
)
def test_table_errors_name_file_and_line(config, tmp_path, content, match):
    (tmp_path / "train.csv").write_text(content, encoding="utf-8")
    (tmp_path / "test.csv").write_text("text,label\nok,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load_data(config, str(tmp_path))


def test_undecodable_line_is_reported(config, tmp_path):
    (tmp_path / "train.csv").write_bytes(b"text,label\ngood,1\nbad \xff\xfe bytes,0\n")
    (tmp_path / "test.csv").write_text("text,label\nok,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.csv:3: text is not valid UTF-8"):
        load_data(config, str(tmp_path))


def test_undecodable_review_file_is_reported(config, tmp_path):
    root = _write_acl(tmp_path / "aclImdb")
    (root / "train" / "pos" / "9_9.txt").write_bytes(b"fine line\nbroken \xff line\n")
    with pytest.raises(DataError, match=r"9_9.txt:2: text is not valid UTF-8"):
        load_data(config, str(root))


def test_unknown_class_folder_in_test(config, tmp_path):
    root = _write_acl(tmp_path / "aclImdb")
    (root / "test" / "meh").mkdir()
    with pytest.raises(DataError, match=r"\['meh'\] are not among the known classes"):
        load_data(config, str(root))


def test_test_label_unknown_to_train(config, tmp_path):
    (tmp_path / "train.csv").write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    (tmp_path / "test.csv").write_text("text,label\nok,neutral\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test.csv:2: label 'neutral'"):
        load_data(config, str(tmp_path))


def test_missing_path(config, tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load_data(config, str(tmp_path / "no_such_folder"))


@pytest.mark.parametrize("tokenizer", ["word", "wordpiece"])
def test_preprocessor_save_load_identical(tmp_path, tokenizer):
    texts = tf.data.Dataset.from_tensor_slices(sum(TRAIN.values(), []))
    pre = TextPreprocessor.adapt(texts, 16, 60, tokenizer, ["neg", "pos"])
    pre.save(tmp_path / "pre")
    loaded = TextPreprocessor.load(tmp_path / "pre")
    probe = ["A great, boring zebraword film!<br />", ""]
    assert loaded.vocabulary == pre.vocabulary and loaded.class_names == ["neg", "pos"]
    np.testing.assert_array_equal(loaded(probe).numpy(), pre(probe).numpy())
    assert pre(probe).dtype == tf.int32


def test_wordpiece_packs_cls_and_sep(tmp_path):
    texts = tf.data.Dataset.from_tensor_slices(sum(TRAIN.values(), []))
    pre = TextPreprocessor.adapt(texts, 16, 60, "wordpiece")
    ids = pre(["great film"]).numpy()[0]
    assert pre.vocabulary[:4] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    assert ids[0] == 2 and 3 in ids and ids[-1] == 0


def test_synthetic_reviews_deterministic_and_learnable():
    a = synthetic_reviews(400, 100, seed=1)
    b = synthetic_reviews(400, 100, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    x, y, xt, yt = a
    # a trivial bag-of-words classifier: per-word log-odds from the training reviews
    counts = {}
    for text, label in zip(x, y):
        for word in text.split():
            counts.setdefault(word, [1, 1])[label] += 1
    score = lambda t: sum(np.log(counts.get(w, [1, 1])[1] / counts.get(w, [1, 1])[0]) for w in t.split())
    accuracy = np.mean([(score(t) > 0) == bool(label) for t, label in zip(xt, yt)])
    assert accuracy > 0.9


@pytest.mark.parametrize("tokenizer", ["word", "wordpiece"])
def test_preprocessor_goes_into_a_saved_model(tmp_path, tokenizer):
    texts = tf.data.Dataset.from_tensor_slices(sum(TRAIN.values(), []))
    pre = TextPreprocessor.adapt(texts, 8, 60, tokenizer)
    module = tf.Module()
    module.layer = pre.layer
    module.serve = tf.function(lambda s: pre(s), input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "saved"))
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    probe = tf.constant(["Great film!<br />Awful zebraword."])
    np.testing.assert_array_equal(restored.serve(probe).numpy(), pre(probe).numpy())


@pytest.mark.parametrize("module,distribution", [
    ("keras_hub.src.tokenizers.word_piece_tokenizer", "keras-hub"),
    ("tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib", "tensorflow-text"),
])
def test_wordpiece_fails_loudly_when_a_private_import_moves(monkeypatch, module, distribution):
    import importlib.metadata
    import sys

    from kzoo.data.wordpiece import learn_wordpiece_vocabulary

    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    texts = tf.data.Dataset.from_tensor_slices(sum(TRAIN.values(), [])).batch(2)
    version = importlib.metadata.version(distribution)
    with pytest.raises(ImportError, match=rf"{module}\.\w+, which {distribution} {version} does not provide"):
        learn_wordpiece_vocabulary(texts, 16)
