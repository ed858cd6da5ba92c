"""Pieces the hand-written baselines share: IMDB as NumPy arrays, an epoch timer, the report.

Nothing here imports kzoo: the baselines stand for what a Keras user writes without it.
"""

from __future__ import annotations

import time

import keras
import numpy as np


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch of `model.fit`."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def load_imdb_texts(data_dir: str | None, max_train_examples: int | None = None):
    """IMDB reviews from a prepared tfds copy -> (train_texts, train_labels, test_texts, test_labels).

    Texts are NumPy arrays of bytes; the first `max_train_examples` training reviews are kept.
    """
    import tensorflow_datasets as tfds

    train, test = tfds.load("imdb_reviews", split=["train", "test"], data_dir=data_dir, download=False,
                            as_supervised=True, batch_size=-1)
    x_train, y_train = (np.asarray(a) for a in tfds.as_numpy(train))
    x_test, y_test = (np.asarray(a) for a in tfds.as_numpy(test))
    if max_train_examples:
        x_train, y_train = x_train[:max_train_examples], y_train[:max_train_examples]
    return x_train, y_train, x_test, y_test


def vectorize_texts(x_train, x_test, max_tokens: int, sequence_length: int):
    """Adapt a TextVectorization on the training texts; return int32 id arrays and the vocabulary size."""
    vectorizer = keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=sequence_length)
    vectorizer.adapt(x_train, batch_size=1024)
    ids_train = np.asarray(vectorizer(x_train), dtype=np.int32)
    ids_test = np.asarray(vectorizer(x_test), dtype=np.int32)
    return ids_train, ids_test, int(vectorizer.vocabulary_size())


def load_imdb_arrays(data_dir: str | None, max_train_examples: int | None, vocab_size: int,
                     sequence_length: int) -> dict:
    """IMDB as int32 id arrays `[N, sequence_length]` and int labels, vocabulary learned on the training texts."""
    x_train, y_train, x_test, y_test = load_imdb_texts(data_dir, max_train_examples)
    ids_train, ids_test, vocab = vectorize_texts(x_train, x_test, vocab_size, sequence_length)
    return {"x_train": ids_train, "y_train": y_train, "x_test": ids_test, "y_test": y_test,
            "model_kwargs": {"vocab_size": vocab}}


def same_arrays_every_epoch(arrays: dict, epoch: int = 0, seed: int = 0):
    """The training arrays (the same every epoch; `fit` shuffles them)."""
    return arrays["x_train"], arrays["y_train"]


def report(name: str, metric: str, test: dict, timer: EpochTimer, train_examples: int, batch_size: int,
           train_seconds: float, total_seconds: float) -> dict:
    """The dict every baseline's `run` returns."""
    timed = timer.seconds[1:] or timer.seconds  # the first epoch also traces the step function
    return {
        "model": name, "metric": metric, "metric_value": float(test[metric]),
        "test": {k: float(v) for k, v in test.items()}, "epochs": len(timer.seconds),
        "epoch_seconds": [round(s, 2) for s in timer.seconds], "train_examples": int(train_examples),
        "batch_size": int(batch_size), "train_seconds": round(train_seconds, 2),
        "total_seconds": round(total_seconds, 2),
        "examples_per_sec": round(train_examples * len(timed) / sum(timed), 1) if timed else None,
    }


def fit_text_classifier(build, arrays: dict, epochs: int, seed: int, batch_size: int, name: str,
                        verbose: int = 0) -> dict:
    """Seed, build, `model.fit` the id arrays, `model.evaluate` the test arrays; return `report(...)`."""
    keras.utils.set_random_seed(seed)
    model = build(**arrays["model_kwargs"])
    timer = EpochTimer()
    started = time.perf_counter()
    model.fit(arrays["x_train"], arrays["y_train"], batch_size=batch_size, epochs=epochs, callbacks=[timer],
              verbose=verbose)
    train_seconds = time.perf_counter() - started
    test = model.evaluate(arrays["x_test"], arrays["y_test"], batch_size=batch_size, return_dict=True, verbose=0)
    return report(name, "accuracy", test, timer, len(arrays["y_train"]), batch_size, train_seconds,
                  time.perf_counter() - started)


def timed_run(load, train_and_evaluate, epochs: int, seed: int, verbose: int = 0) -> dict:
    """`train_and_evaluate(load(), epochs, seed)` with `total_seconds` counted from the first data read."""
    started = time.perf_counter()
    result = train_and_evaluate(load(), epochs, seed, verbose)
    result["total_seconds"] = round(time.perf_counter() - started, 2)
    return result


def script_main(module) -> None:
    """Command line of every baseline script: print `module.run(...)` as one JSON line."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=module.EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-examples", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(module.run(args.data_dir, args.epochs, args.seed, args.max_train_examples, verbose=2)))
