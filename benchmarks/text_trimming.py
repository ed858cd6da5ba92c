"""Batch-1 latency of a text SavedModel with and without request trimming (issue 23), in one run.

Builds `lstm` (or `--model`) at its zoo size (random weights; latency does not depend on them), a
vocabulary from IMDB-like sentences, exports it twice — the shipped signature, which cuts each
request to a bucket width (`kzoo.signatures.text.trim_padding`), and the same signature with
trimming switched off (the old behaviour: always `data.sequence_length` positions) — and times
`serving_default` on a short query and on a long review, alternating the two exports. With
`--data-dir`, the vocabulary comes from IMDB's training reviews and the long requests are real
test reviews, one per call (the same reviews for both exports).

    PYTHONPATH=. python benchmarks/text_trimming.py --model lstm --calls 200
    PYTHONPATH=. python benchmarks/text_trimming.py --model lstm --calls 200 --data-dir ~/tensorflow_datasets
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--output", default="/tmp/kzoo-trim")
    parser.add_argument("--data-dir", help="tfds data_dir with imdb_reviews: real reviews instead of generated text")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    import kzoo
    from kzoo.data.text import TextPreprocessor
    from kzoo.export import export_model
    from kzoo.signatures import text as text_signatures

    words = ("the film was great and the acting wonderful but the plot dull slow long boring "
             "music story ending characters director scene best worst loved hated").split()
    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(words, 200)) for _ in range(200)]
    reviews = None
    if args.data_dir:
        from kzoo.data.tfds_source import load_tfds

        train, test = load_tfds("imdb_reviews", ["train", "test"], data_dir=args.data_dir, download="never")
        corpus = [example["text"].numpy().decode() for example in train.take(5000)]
        reviews = [example["text"].numpy().decode() for example in test.shuffle(25000, seed=0).take(args.calls)]
    config = kzoo.get_config(args.model)
    tokenizer = "wordpiece" if config.family == "bert" else "word"
    fitted = TextPreprocessor.adapt(tf.data.Dataset.from_tensor_slices(corpus), config.data.sequence_length,
                                    config.model.vocab_size, tokenizer=tokenizer)
    config = kzoo.get_config(args.model, {"model.vocab_size": fitted.vocabulary_size})
    keras.utils.set_random_seed(0)
    model = kzoo.build_from_config(config, compile=False)

    trimmed = export_model(model, config, fitted, f"{args.output}/trimmed")
    original = text_signatures.trim_padding
    text_signatures.trim_padding = lambda ids, padding_id=0: ids  # the signature before trimming
    try:
        padded = export_model(model, config, fitted, f"{args.output}/padded")
    finally:
        text_signatures.trim_padding = original

    requests = {"short query (3 words)": [["great acting, dull plot"]]}
    if reviews:
        words_per_review = np.mean([len(review.split()) for review in reviews])
        requests[f"real test reviews ({words_per_review:.0f} words on average)"] = [[review] for review in reviews]
    else:
        requests["long review (230 words)"] = [[" ".join(rng.choice(words, 230))]]
    serves = {name: tf.saved_model.load(str(path)).signatures["serving_default"]
              for name, path in (("padded", padded), ("trimmed", trimmed))}
    rows = []
    for label, batches in requests.items():
        batches = [tf.constant(texts) for texts in batches]
        outputs = {name: np.concatenate([serve(text=batch)["probabilities"].numpy() for batch in batches])
                   for name, serve in serves.items()}
        times = {name: [] for name in serves}
        for call in range(args.calls):
            batch = batches[call % len(batches)]
            for name, serve in serves.items():  # alternating: both see the same machine load
                started = time.perf_counter()
                serve(text=batch)
                times[name].append((time.perf_counter() - started) * 1000)
        row = {"model": args.model, "request": label,
               "max_abs_diff": float(np.abs(outputs["padded"] - outputs["trimmed"]).max())}
        for name, values in times.items():
            row[f"{name}_p50_ms"] = round(float(np.percentile(values, 50)), 2)
            row[f"{name}_p99_ms"] = round(float(np.percentile(values, 99)), 2)
        row["speedup_p50"] = round(row["padded_p50_ms"] / row["trimmed_p50_ms"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
