"""Translation data: `({"encoder_inputs": [B, S], "decoder_inputs": [B, T]}, targets [B, T])`, int32.

Sources: a folder of line-aligned files (`train.de`/`train.en`, `val.*`, `test_2016_flickr.*` or
`test.*`; Multi30k's layout), TSV sentence pairs (`source<TAB>target`), tfds
`wmt14_translate/de-en` (`--data tfds`), or a synthetic toy language pair. "auto" uses the
raw folder named `data.dataset` when found beside the tfds data directory, else synthetic data.
The bundle's `evaluate(model, split)` adds corpus BLEU when the caller passes a decoding loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from kzoo.data import files, pipeline, synthetic
from kzoo.data.bleu import make_bleu_evaluator
from kzoo.data.bundle import DataBundle
from kzoo.data.seq2seq_preprocessing import Seq2SeqPreprocessor
from kzoo.data.tfds_source import load_tfds, resolve_data_dir
from kzoo.errors import DataError

TFDS_DEFAULT = "wmt14_translate/de-en"
TEST_PREFIXES = ("test_2016_flickr", "test")
VAL_PREFIXES = ("val", "valid", "dev")


def load_seq2seq_data(config: dict, source: str, data_dir: str | None, seed: int,
                      batch_size: int, shard: tuple[int, int] | None, preprocessor=None,
                      decode_fn: Callable | None = None) -> DataBundle:
    """Return a DataBundle of teacher-forcing batches for a seq2seq config, with a BLEU `evaluate`.

    `decode_fn(model, encoder_inputs, max_length, start_id, end_id)` is the model family's decoding
    loop (see `kzoo.data.bleu`); without one the bundle scores Keras metrics only, no BLEU.

    `source`: "auto", "tfds", "synthetic", or a path (folder of parallel files, TSV file, or
    folder with train.tsv [+ val.tsv, test.tsv]). Vocabularies are learned from the training pairs.
    """
    data, model = config.data, config.model
    name, notes = data.dataset, []
    kind = source
    if source == "auto":
        found = find_raw_folder(name, data_dir)
        kind, source = ("files", str(found)) if found else ("synthetic", source)
        if not found:
            notes.append(f"no raw {name} folder found near {resolve_data_dir(data_dir)}; using generated "
                         f"synthetic sentence pairs instead (pass --data PATH for real data)")
            print(f"kzoo.data: {notes[-1]}", flush=True)
    elif source not in ("tfds", "synthetic"):
        kind = "files"
    if kind == "files":
        pairs, file_notes = read_user_pairs(source, data, seed)
        name, notes = files.absolute(source), notes + file_notes
    elif kind == "tfds":
        name = data.tfds_name
        pairs = _tfds_pairs(name, data_dir)
    else:
        n = pipeline.synthetic_size(data)
        pairs, name = synthetic.synthetic_pairs({"train": n, "val": max(n // 10, 10), "test": max(n // 10, 10)}, seed), "synthetic/seq2seq"
    pairs = pipeline.first_rows(data, kind, pairs)

    preprocessor = preprocessor or Seq2SeqPreprocessor.adapt(
        tf.data.Dataset.from_tensor_slices(pairs["train"][0]), tf.data.Dataset.from_tensor_slices(pairs["train"][1]),
        data.source_length, data.target_length, model.source_vocab_size,
        model.target_vocab_size, data.lowercase,
    )
    sizes = preprocessor.model_overrides()
    notes.append(f"vocabularies of {sizes['source_vocab_size']} source and {sizes['target_vocab_size']} "
                 f"target tokens learned from the {len(pairs['train'][0])} training pairs only")
    datasets = {split: pipeline.map_in_chunks(tf.data.Dataset.from_tensor_slices(pair), preprocessor)
                for split, pair in pairs.items()}
    n_train = len(pairs["train"][0])
    train = pipeline.finish(datasets["train"], batch_size, n_train, training=True, seed=seed, shard=shard,
                            shuffle_buffer=min(data.shuffle_buffer or n_train, n_train))
    val, test = (pipeline.finish(datasets[s], batch_size, len(pairs[s][0])) for s in ("val", "test"))
    return DataBundle(
        train=train, val=val, test=test, source=kind, name=name,
        sizes={"train": pipeline.shard_size(n_train, shard), "val": len(pairs["val"][0]), "test": len(pairs["test"][0]),
               **({"train_all_workers": n_train} if shard else {})},
        preprocessor=preprocessor,
        evaluate=_make_evaluate(decode_fn, preprocessor, pairs, {"val": val, "test": test}, notes),
        notes=notes,
        raw_train=tf.data.Dataset.from_tensor_slices({"text": pairs["train"][0]}),  # source sentences
    )


def _make_evaluate(decode_fn, preprocessor, pairs, datasets, notes):
    """Return `evaluate(model, split)` giving Keras metrics plus BLEU, or None without a decoder."""
    if decode_fn is None:
        notes.append("no decoding loop given: BLEU is not computed")
        return None
    bleu = make_bleu_evaluator(preprocessor, {s: pairs[s] for s in datasets}, decode_fn)

    def evaluate(model, split: str = "test") -> dict:
        metrics = model.evaluate(datasets[split], return_dict=True, verbose=0)
        return {**{k: float(v) for k, v in metrics.items()}, **bleu(model, split)}

    return evaluate


def find_raw_folder(name: str, data_dir: str | None) -> Path | None:
    """Return `<data_dir>/<name>`, `<data_dir>/raw/<name>` or `<data_dir>/../raw/<name>` if one exists."""
    root = Path(resolve_data_dir(data_dir))
    for folder in (root / name, root / "raw" / name, root.parent / "raw" / name):
        if folder.is_dir():
            return folder
    return None


def _tfds_pairs(name: str, data_dir: str | None) -> dict:
    """Read a supervised tfds translation dataset into {split: (sources, targets)} string arrays."""
    out = {}
    for split, ds in zip(("train", "val", "test"), load_tfds(name, ["train", "validation", "test"], data_dir, as_supervised=True)):
        batches = list(ds.batch(4096).as_numpy_iterator())
        out[split] = tuple(np.char.decode(np.concatenate([b[i] for b in batches]).astype(bytes), "utf-8") for i in (0, 1))
    return out


def read_user_pairs(source: str, data: dict, seed: int) -> tuple[dict, list]:
    """Read the user's sentence pairs -> ({"train"|"val"|"test": (sources, targets)}, notes).

    A folder of parallel files `<split>.<source_lang>` / `<split>.<target_lang>` (val from
    `val|valid|dev`, test from `test_2016_flickr` else `test`), a folder of `<split>.tsv`, or one
    `.tsv` file. Missing val/test splits are carved from train (`data.val_fraction`,
    `data.test_fraction`) with a note; pairs with a blank side are skipped and counted.
    """
    path = files.require_path(source)
    src_lang, tgt_lang = data.source_lang, data.target_lang
    if path.is_file():
        if path.suffix.lower() != ".tsv":
            raise DataError(f"{path}: sentence pairs must be a .tsv file (source<TAB>target) or a folder "
                            f"of parallel files train.{src_lang}/train.{tgt_lang}")
        found = {"train": files.read_pair_table(path)}
    elif (path / f"train.{src_lang}").is_file() or (path / f"train.{tgt_lang}").is_file():
        found = _read_parallel_folder(path, src_lang, tgt_lang)
    elif (path / "train.tsv").is_file():
        found = {s: files.read_pair_table(path / f"{s}.tsv") for s in ("train", "val", "test") if (path / f"{s}.tsv").is_file()}
    else:
        raise DataError(f"{path}: expected train.{src_lang} and train.{tgt_lang} (parallel files), "
                        f"train.tsv, or a .tsv file of source<TAB>target lines")
    notes = [f"skipped {n} blank line(s) or pair(s) with a blank side in the {s} split"
             for s, (_, _, n) in found.items() if n]
    pairs = {s: (src, tgt) for s, (src, tgt, _) in found.items()}
    for split, fraction_key, default, offset in (("test", "test_fraction", 0.1, 1), ("val", "val_fraction", 0.1, 2)):
        if split not in pairs:
            fraction = float(data.get(fraction_key, default))
            held = pipeline.validation_mask(len(pairs["train"][0]), fraction, seed + offset)
            pairs[split] = tuple(a[held] for a in pairs["train"])
            pairs["train"] = tuple(a[~held] for a in pairs["train"])
            notes.append(f"no {split} files in {path}: {int(held.sum())} training pairs ({fraction:.0%}) held out as {split}")
    if len(pairs["train"][0]) == 0:
        raise DataError(f"{path}: no training sentence pairs")
    return pairs, notes


def _read_parallel_folder(path: Path, src_lang: str, tgt_lang: str) -> dict:
    out = {"train": files.read_parallel(path / f"train.{src_lang}", path / f"train.{tgt_lang}")}
    for split, prefixes in (("val", VAL_PREFIXES), ("test", TEST_PREFIXES)):
        for prefix in prefixes:
            if (path / f"{prefix}.{src_lang}").is_file() or (path / f"{prefix}.{tgt_lang}").is_file():
                out[split] = files.read_parallel(path / f"{prefix}.{src_lang}", path / f"{prefix}.{tgt_lang}")
                break
    return out
