"""Request bodies for benchmarks/serve_load.py, read from the real test data (tfds, offline).

    python benchmarks/serve_load_requests.py --model lstm --data-dir ../shared/datasets/tfds --out bodies.json

Writes `{"model", "signature", "source", "bodies": [JSON text, ...]}`: one-row TF Serving REST bodies
for the entry's kind of input. This runs in its own process because the load generator's process is
gevent-patched (locust), where TensorFlow's threads have no place.

- text entries: IMDB test reviews of typical length (the middle half by word count), `serving_default`;
- image entries: MNIST test digits, uint8 28x28, `serving_default`;
- recommenders: MovieLens-100k user ids drawn from the ratings (so active users come more often, as
  in real traffic), `recommend` with k = 10.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KINDS = {**dict.fromkeys(("lstm", "lstm_small", "transformer_cls", "bert_cls"), "text"),
         **dict.fromkeys(("mlp", "cnn", "cnn_small"), "image"),
         **dict.fromkeys(("gmf", "ncf_mlp", "neumf"), "recommend")}
SCANNED = 5000  # test examples read to pick from


def _load(name: str, split: str, data_dir: str):
    import tensorflow_datasets as tfds

    return tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir, download=False).take(SCANNED))


def text_bodies(data_dir: str, count: int, rng) -> tuple[list[str], str]:
    """IMDB test reviews between the 25th and 75th percentile of word count, as `instances` bodies."""
    import numpy as np

    texts = [example["text"].decode("utf-8") for example in _load("imdb_reviews", "test", data_dir)]
    words = np.array([len(t.split()) for t in texts])
    low, median, high = np.percentile(words, [25, 50, 75])
    typical = [t for t, w in zip(texts, words) if low <= w <= high]
    picked = rng.choice(len(typical), size=count, replace=len(typical) < count)
    source = (f"imdb_reviews test: {len(set(picked.tolist()))} reviews of {low:.0f}-{high:.0f} words "
              f"(the middle half by length; median of all {median:.0f})")
    return [json.dumps({"instances": [typical[i]]}) for i in picked], source


def image_bodies(data_dir: str, count: int, rng) -> tuple[list[str], str]:
    """MNIST test digits (uint8 28x28) as `instances` bodies."""
    images = [example["image"][..., 0] for example in _load("mnist", "test", data_dir)]
    picked = rng.choice(len(images), size=count, replace=len(images) < count)
    return [json.dumps({"instances": [images[i].tolist()]}) for i in picked], "mnist test: uint8 28x28 digits"


def recommend_bodies(data_dir: str, count: int, rng, k: int = 10) -> tuple[list[str], str]:
    """MovieLens-100k user ids, drawn from the ratings rows (activity-weighted), as `recommend` bodies."""
    import tensorflow_datasets as tfds

    ratings = tfds.load("movielens/100k-ratings", split="train", data_dir=data_dir, download=False)
    column = ratings.map(lambda x: x["user_id"]).batch(10_000)  # one row at a time takes ~20 s for 100k rows
    users = [int(user) for batch in tfds.as_numpy(column) for user in batch]
    picked = rng.choice(len(users), size=count)
    bodies = [json.dumps({"signature_name": "recommend", "inputs": {"user_id": [users[i]], "k": k}}) for i in picked]
    source = (f"movielens/100k-ratings: {len({users[i] for i in picked})} distinct user ids drawn from "
              f"{len(users)} ratings (activity-weighted), k={k}")
    return bodies, source


BUILDERS = {"text": (text_bodies, "serving_default"), "image": (image_bodies, "serving_default"),
            "recommend": (recommend_bodies, "recommend")}


def write_bodies(model: str, data_dir: str, out: str, count: int = 1000, seed: int = 0) -> dict:
    """Build `count` bodies for entry `model` from `data_dir` and write them to `out` as JSON; returns the dict."""
    import numpy as np

    build, signature = BUILDERS[KINDS[model]]
    bodies, source = build(data_dir, count, np.random.default_rng(seed))
    written = {"model": model, "signature": signature, "source": source, "bodies": bodies}
    with open(out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(written, handle)
    os.replace(out + ".tmp", out)  # a killed run leaves no half file that a rerun would reuse
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(KINDS))
    parser.add_argument("--data-dir", required=True, help="tfds data dir holding imdb_reviews, mnist, movielens")
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    written = write_bodies(args.model, args.data_dir, args.out, args.count)
    print(f"{args.model}: {len(written['bodies'])} bodies, {written['source']}")


if __name__ == "__main__":
    main()
