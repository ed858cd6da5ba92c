"""Readers for the user's own files; every error names the file (and line) at fault.

- images: `.npz` with `x_train, y_train, x_test, y_test`.
- text classification: an aclImdb-style folder (`train/<class>/*.txt`, `test/<class>/*.txt`) or
  CSV/TSV tables with a header holding `text` and `label` columns.
- sentence pairs: a folder of parallel files (`train.de`/`train.en`, ...) or TSV tables.
Readers return plain arrays; blank lines skipped by design are counted in the returned notes.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from kzoo.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def absolute(path) -> str:
    """Return `path` with `~` expanded, made absolute: the name a run records for the user's files."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def require_path(path) -> Path:
    """Return `path` as a Path; raise FileNotFoundError naming it when it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data path {str(path)!r} does not exist")
    return path


def read_text_file(path) -> str:
    """Return a UTF-8 file's text; raise DataError naming the file and line that does not decode."""
    path = require_path(path)
    data = path.read_bytes()
    if not data.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: text is not valid UTF-8 ({err.reason} at byte {err.start})") from None


# ---------------------------------------------------------------- images


def read_npz_images(path, image_shape: Sequence[int], num_classes: int) -> dict[str, np.ndarray]:
    """Return {"x_train", "y_train", "x_test", "y_test"} from an `.npz`, images uint8 `[N, *image_shape]`.

    `[N, H, W]` gains a channel axis. Pixels must be integers in 0..255; labels integers in
    [0, num_classes). Raises DataError naming the file, the array and the bad shape or value.
    """
    path = require_path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive.files]
    if missing:
        raise DataError(f"{path}: missing array(s) {missing}; found {archive.files}")
    out = {}
    for split in ("train", "test"):
        out[f"x_{split}"] = _check_images(path, f"x_{split}", _npz_array(path, archive, f"x_{split}"),
                                          tuple(image_shape))
        out[f"y_{split}"] = _check_labels(path, f"y_{split}", _npz_array(path, archive, f"y_{split}"),
                                          len(out[f"x_{split}"]), num_classes)
    return out


def _npz_array(path: Path, archive, key: str) -> np.ndarray:
    """`archive[key]`, read lazily by NumPy: an object array (pickled) or a damaged member is a DataError."""
    try:
        return archive[key]
    except ValueError as err:
        if "allow_pickle" in str(err):  # never unpickled: a pickle can run code
            raise DataError(f"{path}: {key} is an object (pickled) array; expected a numeric array "
                            "(save it with an integer or float dtype)") from None
        raise DataError(f"{path}: {key} cannot be read ({err})") from None
    except Exception as err:  # a damaged zip member (zipfile.BadZipFile, zlib.error, EOFError, OSError)
        raise DataError(f"{path}: {key} cannot be read ({type(err).__name__}: {err})") from None


def _check_images(path: Path, key: str, x: np.ndarray, shape: tuple) -> np.ndarray:
    found = list(x.shape)
    if x.ndim == len(shape) and shape[-1] == 1:
        x = x[..., None]
    if x.shape[1:] != shape or len(x) == 0:
        raise DataError(f"{path}: {key} has shape {found}; expected [N, {', '.join(map(str, shape))}]"
                        f"{' or [N, ' + ', '.join(map(str, shape[:-1])) + ']' if shape[-1] == 1 else ''} with N > 0")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or np.any(x != np.round(x)) or x.min() < 0 or x.max() > 255:
        raise DataError(f"{path}: {key} has dtype {x.dtype} with values outside the integers 0..255; "
                        f"expected uint8 pixels (scale [0, 1] floats by 255 first)")
    return x.astype(np.uint8)


def _check_labels(path: Path, key: str, y: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    y = np.squeeze(y, axis=-1) if y.ndim == 2 and y.shape[-1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: {key} has shape {list(y.shape)}; expected [{n}] (one label per image)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{path}: {key} has dtype {y.dtype}; expected integer class ids")
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        raise DataError(f"{path}: {key}[{bad[0]}] = {y[bad[0]]} is outside the classes 0..{num_classes - 1}")
    return y.astype(np.int64)


# ---------------------------------------------------------------- text classification


def read_text_folder(folder, split: str, class_names: Sequence[str] | None = None):
    """Read `folder/<split>/<class>/*.txt` (aclImdb layout) -> (texts, labels, class_names).

    Classes default to `neg`, `pos` when both exist (aclImdb's `unsup` is not a class), else every
    sub-folder of `train`, sorted. A class folder in `split` unknown to `class_names` raises DataError.
    """
    root = require_path(Path(folder) / split)
    present = sorted(p.name for p in root.iterdir() if p.is_dir())
    if class_names is None:
        class_names = ["neg", "pos"] if {"neg", "pos"} <= set(present) else present
    extra = [c for c in present if c not in class_names and c != "unsup"]
    if extra:
        raise DataError(f"{root}: class folder(s) {extra} are not among the known classes {list(class_names)}")
    paths, labels = [], []
    for index, name in enumerate(class_names):
        files = sorted(tf.io.gfile.glob(str(root / name / "*.txt")))
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"{root}: no .txt files in class folders {list(class_names)}")
    contents = tf.data.Dataset.from_tensor_slices(paths).map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE)
    texts = np.concatenate([b for b in contents.batch(4096).as_numpy_iterator()])
    _check_utf8(texts, paths)
    return texts, np.asarray(labels, dtype=np.int64), list(class_names)


def _check_utf8(texts: np.ndarray, paths: Sequence[str]) -> None:
    """Raise DataError naming the first file (and line) whose bytes are not valid UTF-8."""
    fixed = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace").numpy()
    bad = np.flatnonzero(fixed != texts)
    if bad.size:
        read_text_file(paths[bad[0]])  # raises with the line number


def read_text_table(path, class_names: Sequence[str] | None, num_classes: int):
    """Read a CSV/TSV with header columns `text` and `label` -> (texts, labels, class_names, blank_lines).

    Labels are integers in [0, num_classes) or class names; with names, `class_names` (from the
    training file) fixes the ids, or they are the sorted names found. Errors name file and line.
    """
    path = require_path(path)
    rows, blank = _read_table_rows(path)
    header = [h.strip().lower() for h in rows[0][1]]
    if "text" not in header or "label" not in header:
        raise DataError(f"{path}:{rows[0][0]}: header must name 'text' and 'label' columns, got {rows[0][1]}")
    t_col, l_col = header.index("text"), header.index("label")
    lines, texts, raw = [], [], []
    for line, fields in rows[1:]:
        if len(fields) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields like the header, got {len(fields)}")
        lines.append(line)
        texts.append(fields[t_col])
        raw.append(fields[l_col].strip())
    if not texts:
        raise DataError(f"{path}: no data rows after the header")
    labels, class_names = _label_ids(path, lines, raw, class_names, num_classes)
    return np.asarray(texts, dtype=object).astype(str), labels, class_names, blank


def _read_table_rows(path: Path) -> tuple[list, int]:
    """Return ([(line_number, fields), ...] without blank lines, number of blank lines skipped)."""
    tsv = path.suffix.lower() == ".tsv"  # TSV: no quoting, a tab always separates
    delimiter, quoting = ("\t", csv.QUOTE_NONE) if tsv else (",", csv.QUOTE_MINIMAL)
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""), delimiter=delimiter, quoting=quoting, strict=True)
    rows, blank = [], 0
    try:
        line = reader.line_num + 1
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                blank += 1
            else:
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: malformed {delimiter!r}-separated line ({err})") from None
    return rows, blank


def _label_ids(path, lines, raw, class_names, num_classes):
    if class_names is None and all(r.lstrip("-").isdigit() for r in raw):
        class_names = [str(i) for i in range(num_classes)]
    if class_names is None:
        class_names = sorted(set(raw))
    if len(class_names) > num_classes:
        raise DataError(f"{path}: {len(class_names)} classes {class_names[:10]} but the model has num_classes={num_classes}")
    index = {name: i for i, name in enumerate(class_names)}
    for line, r in zip(lines, raw):
        if r not in index:
            raise DataError(f"{path}:{line}: label {r!r} is not one of the known classes {class_names}")
    return np.asarray([index[r] for r in raw], dtype=np.int64), list(class_names)


# ---------------------------------------------------------------- sentence pairs


def read_lines(path) -> list[str]:
    """Return a UTF-8 file's lines (without line ends); errors name the file and line."""
    return read_text_file(path).splitlines()


def read_parallel(source_path, target_path) -> tuple[np.ndarray, np.ndarray, int]:
    """Read line-aligned files -> (sources, targets, pairs skipped because a side is blank)."""
    src, tgt = read_lines(source_path), read_lines(target_path)
    if len(src) != len(tgt):
        raise DataError(f"{source_path} has {len(src)} lines but {target_path} has {len(tgt)}; "
                        f"parallel files must be line-aligned")
    return _drop_blank_pairs(np.asarray(src, dtype=str), np.asarray(tgt, dtype=str))


def read_pair_table(path) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a TSV of `source<TAB>target[<TAB>more...]` lines -> (sources, targets, blank lines skipped)."""
    path = require_path(path)
    src, tgt, blank = [], [], 0
    for line, text in enumerate(read_text_file(path).splitlines(), start=1):
        if not text.strip():
            blank += 1
            continue
        fields = text.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path}:{line}: expected 'source<TAB>target', found no tab")
        src.append(fields[0])
        tgt.append(fields[1])
    sources, targets, skipped = _drop_blank_pairs(np.asarray(src, dtype=str), np.asarray(tgt, dtype=str))
    return sources, targets, skipped + blank


def _drop_blank_pairs(src: np.ndarray, tgt: np.ndarray):
    keep = (np.char.strip(src) != "") & (np.char.strip(tgt) != "")
    return src[keep], tgt[keep], int((~keep).sum())


# ---------------------------------------------------------------- unlabelled text (pretraining)


def read_documents(path) -> tuple[np.ndarray, list[str]]:
    """Read unlabelled text -> (documents as a str array, notes).

    A file holds one document per line (blank lines skipped); a folder holds one document per
    `.txt` file, found recursively. Raises DataError when nothing is left.
    """
    path = require_path(path)
    notes = []
    if path.is_dir():
        paths = sorted(tf.io.gfile.glob(str(path / "**" / "*.txt")) + tf.io.gfile.glob(str(path / "*.txt")))
        paths = sorted(set(paths))
        if not paths:
            raise DataError(f"{path}: no .txt files (expected a folder of .txt documents or a file with one "
                            f"document per line)")
        contents = tf.data.Dataset.from_tensor_slices(paths).map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE)
        texts = np.concatenate([b for b in contents.batch(4096).as_numpy_iterator()])
        _check_utf8(texts, paths)
        texts = np.char.decode(texts.astype(bytes), "utf-8")
    else:
        lines = read_lines(path)
        texts = np.asarray([line for line in lines if line.strip()], dtype=object).astype(str)
        if len(texts) < len(lines):
            notes.append(f"skipped {len(lines) - len(texts)} blank line(s) in {path}")
    texts = texts[np.char.str_len(texts.astype(str)) > 0] if len(texts) else texts
    if len(texts) < 2:
        raise DataError(f"{path}: {len(texts)} non-empty document(s); pretraining needs at least 2 "
                        f"(one document per line, or one per .txt file)")
    return texts, notes
