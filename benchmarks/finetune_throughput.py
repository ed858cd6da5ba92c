"""Fine-tuning throughput of a published BERT checkpoint: kzoo's `bert_cls` against keras-hub's own
`BertTextClassifier.from_preset(...).fit`, on the same IMDB reviews, batch size and precision.

keras-hub's preprocessor pads every review to its `sequence_length`; kzoo sorts chunks of batches by
length and trims each batch to its longest review (`data.length_sorted_chunks`). Both sides alternate
step windows in one process (keras-hub, kzoo, keras-hub, kzoo, ...; `kzoo.bench.vs_baseline.StepWindow`)
so the machine's load falls on both alike; the ratio is kzoo's examples/s over keras-hub's, per round.
One JSON record per sequence length is appended to `--out`.

    PYTHONPATH=. python benchmarks/finetune_throughput.py --data-dir ../shared/datasets/tfds \
        --checkpoint ../shared/checkpoints/all-MiniLM-L6-v2 --lengths 128,256,512
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def keras_hub_side(checkpoint: str, length: int, texts, labels, batch_size: int):
    """keras-hub's classifier as its docs fine-tune it: from_preset, its preprocessor, AdamW 5e-5."""
    import keras
    import keras_hub

    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(checkpoint, sequence_length=length)
    model = keras_hub.models.BertTextClassifier.from_preset(checkpoint, num_classes=2, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.AdamW(5e-5, weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return lambda window: model.fit(x=texts, y=labels, batch_size=batch_size, epochs=1, callbacks=[window],
                                    verbose=0)


def kzoo_side(checkpoint: str, length: int, data_dir: str, examples: int, batch_size: int):
    """kzoo's bert_cls from the checkpoint, compiled as `train()` compiles it, its pipeline's cache filled."""
    from kzoo.bench.vs_baseline import _kzoo_side

    overrides = {"model.preset": checkpoint, "data.sequence_length": length, "data.train_examples": examples,
                 "data.test_examples": 2, "data.val_fraction": 0.0, "train.batch_size": batch_size,
                 "train.optimizer": "adamw", "train.learning_rate": 5e-5, "train.weight_decay": 0.01,
                 "runtime.mixed_precision": True}
    net, train, _, steps = _kzoo_side("bert_cls", "tfds", data_dir, 0, overrides, jit_compile=False)
    return (lambda window: net.fit(train, epochs=1, callbacks=[window], verbose=0, shuffle=False)), steps


def measure(args, length: int) -> dict:
    """Alternate the two sides `args.rounds` times at `length`; return the record."""
    import keras
    import numpy as np

    from kzoo.bench.baselines._shared import load_imdb_texts
    from kzoo.bench.vs_baseline import StepWindow

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    texts, labels, _, _ = load_imdb_texts(args.data_dir, None)
    pick = np.random.default_rng(0).permutation(len(labels))[:args.examples]
    texts, labels = np.array([t.decode("utf-8") for t in texts[pick]]), labels[pick]
    fit_hub = keras_hub_side(args.checkpoint, length, texts, labels, args.batch_size)
    fit_kzoo, _ = kzoo_side(args.checkpoint, length, args.data_dir, args.examples, args.batch_size)
    speeds = {"keras_hub": [], "kzoo": []}
    for _ in range(args.rounds):
        for side, fit in (("keras_hub", fit_hub), ("kzoo", fit_kzoo)):
            window = StepWindow(args.warmup, args.steps)
            fit(window)
            speeds[side].append(round(window.examples_per_sec(args.batch_size), 2))
    ratios = [k / h for k, h in zip(speeds["kzoo"], speeds["keras_hub"])]
    return {"benchmark": "finetune_throughput", "checkpoint": args.checkpoint, "sequence_length": length,
            "batch_size": args.batch_size, "precision": "mixed_bfloat16", "warmup_steps": args.warmup,
            "timed_steps": args.steps, "rounds": args.rounds, "keras_hub_examples_per_sec": speeds["keras_hub"],
            "kzoo_examples_per_sec": speeds["kzoo"], "median_round_ratio": round(statistics.median(ratios), 3),
            "date": time.strftime("%Y-%m-%d")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--lengths", default="128,256,512")
    parser.add_argument("--examples", type=int, default=2000, help="IMDB training reviews both sides draw from")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "finetune_throughput.jsonl")
    args = parser.parse_args(argv)
    for length in [int(n) for n in args.lengths.split(",")]:
        record = measure(args, length)
        with args.out.open("a") as out:
            out.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
