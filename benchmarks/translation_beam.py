"""BLEU and latency of a translator's export: greedy against beam search (issue 23), in one run.

Exports a finished `transformer_seq2seq` run once per decoding setting (`kzoo-export --set
export.beam_size=K --set export.length_penalty=A`), picks the length penalty of the beam on the
**validation** file's BLEU, then reports test BLEU (sacrebleu on the raw references, as
`kzoo-evaluate`), batch-1 p50/p99 over the first test sentences and batch-256 sentences/s for greedy
and for the chosen beam. It also times greedy with the loop's early stop switched off (every request
runs `data.target_length` steps, the signature before this change) to show what stopping saves.

    PYTHONPATH=. python benchmarks/translation_beam.py RUN --data path/to/multi30k --beam 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def read_pairs(folder: Path, split: str, source: str, target: str) -> tuple[list[str], list[str]]:
    """The raw source and reference lines of `split` (e.g. `val`, `test_2016_flickr`)."""
    lines = [(folder / f"{split}.{lang}").read_text(encoding="utf-8").splitlines() for lang in (source, target)]
    return lines[0], lines[1]


def latency(serve, sentences: list[str], calls: int) -> dict:
    """Batch-1 p50/p99 (ms) cycling through `sentences`, and batch-256 sentences/s."""
    import tensorflow as tf

    times = []
    for i in range(calls):
        batch = tf.constant([sentences[i % len(sentences)]])
        started = time.perf_counter()
        serve(text=batch)
        times.append((time.perf_counter() - started) * 1000)
    big = tf.constant((sentences * (256 // len(sentences) + 1))[:256])
    serve(text=big)
    started = time.perf_counter()
    for _ in range(3):
        serve(text=big)
    per_second = 3 * 256 / (time.perf_counter() - started)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p99_ms": round(float(np.percentile(times, 99)), 2),
            "batch256_sentences_per_s": round(per_second, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished transformer_seq2seq run directory")
    parser.add_argument("--data", required=True, help="the raw Multi30k folder (train/val/test_2016_flickr .de/.en)")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--penalties", default="0,0.6,1.0", help="length penalties tried on validation")
    parser.add_argument("--calls", type=int, default=100, help="batch-1 calls per setting")
    parser.add_argument("--output", default=None, help="export folder (default: a temporary one)")
    args = parser.parse_args()

    import tensorflow as tf
    from keras import ops

    from kzoo.export import export_run
    from kzoo.export.core import open_run
    from kzoo.models import transformer_seq2seq
    from kzoo.signatures.scoring import evaluate_translation

    config = open_run(args.run)[2]
    folder = Path(args.data).expanduser()
    source_lang, target_lang = config.data.source_lang, config.data.target_lang
    val = read_pairs(folder, "val", source_lang, target_lang)
    test = read_pairs(folder, "test_2016_flickr", source_lang, target_lang)
    output = Path(args.output or tempfile.mkdtemp(prefix="kzoo-beam-"))

    def export(beam: int, penalty: float):
        path = export_run(args.run, output=output, overrides=[f"export.beam_size={beam}",
                                                              f"export.length_penalty={penalty}"])
        return tf.saved_model.load(str(path)).signatures["serving_default"]

    def report(row: dict) -> None:
        print(json.dumps(row), flush=True)

    greedy = export(1, 0.0)
    greedy_val = evaluate_translation(greedy, *val)["test_bleu"]
    report({"decoding": "greedy", "val_bleu": round(greedy_val, 2)})
    penalties = [float(p) for p in args.penalties.split(",")]
    beams, val_bleu = {}, {}
    for penalty in penalties:
        beams[penalty] = export(args.beam, penalty)
        val_bleu[penalty] = evaluate_translation(beams[penalty], *val)["test_bleu"]
        report({"decoding": f"beam {args.beam}", "length_penalty": penalty, "val_bleu": round(val_bleu[penalty], 2)})
    chosen = max(penalties, key=val_bleu.get)

    for label, serve in (("greedy", greedy), (f"beam {args.beam}, length penalty {chosen}", beams[chosen])):
        row = {"decoding": label, "test_bleu": round(evaluate_translation(serve, *test)["test_bleu"], 2)}
        report({**row, **latency(serve, test[0][:100], args.calls)})

    # Greedy as exported before the loop stopped early: always data.target_length steps.
    original = transformer_seq2seq._unfinished
    transformer_seq2seq._unfinished = lambda i, done, max_length: ops.less(i, max_length)
    try:
        fixed = export(1, 0.0)
    finally:
        transformer_seq2seq._unfinished = original
    report({"decoding": "greedy, fixed target_length steps (no early stop)",
            "test_bleu": round(evaluate_translation(fixed, *test)["test_bleu"], 2),
            **latency(fixed, test[0][:100], args.calls)})


if __name__ == "__main__":
    main()
