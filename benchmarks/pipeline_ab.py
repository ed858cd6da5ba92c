"""Training throughput of one entry under two sets of overrides, alternating in one process.

    python benchmarks/pipeline_ab.py bert_cls --b data.length_sorted_chunks=32 --data-dir ../shared/datasets/tfds
    python benchmarks/pipeline_ab.py gmf --a train.jit_compile=false --a train.steps_per_execution=1 --data-dir D

Side A is the entry's config with `--a` overrides (none by default), side B with `--b`. Each side is
built and compiled as `train()` does, fed by its own real-data pipeline (cache filled first); the
sides then alternate (A, B, A, B, ...) and every window skips `--warmup` steps and times the next
`--steps` (`kzoo.bench.vs_baseline.StepWindow`). Prints one JSON line: examples/s per window, the ratio of
the means B / A and the median of the per-round ratios (each round's two windows ran under similar load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.bench import vs_baseline  # noqa: E402


def compare(model: str, a: list[str], b: list[str], data_dir: str | None, warmup: int, steps: int, rounds: int,
            data: str = "tfds") -> dict:
    """Return the A/B throughput record of `model` on `data` (see the module docstring)."""
    sides = {name: vs_baseline._kzoo_side(model, data, data_dir, 0, overrides, jit_compile=False)
             for name, overrides in (("a", a), ("b", b))}
    speeds = {"a": [], "b": []}
    for _ in range(rounds):
        for name, (net, train_ds, batch_size, _) in sides.items():
            window = vs_baseline.StepWindow(warmup, steps)
            net.fit(train_ds, epochs=1, callbacks=[window], verbose=0, shuffle=False)
            speeds[name].append(round(window.examples_per_sec(batch_size), 1))
    mean = {name: sum(v) / len(v) for name, v in speeds.items()}
    return {"model": model, "data": data, "a": a, "b": b, "warmup_steps": warmup, "timed_steps": steps, "rounds": rounds,
            "a_examples_per_sec": speeds["a"], "b_examples_per_sec": speeds["b"],
            "ratio_b_over_a": round(mean["b"] / mean["a"], 3),
            "median_round_ratio": round(statistics.median(y / x for x, y in zip(speeds["a"], speeds["b"])), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--a", action="append", default=[], metavar="KEY=VALUE", help="side A override (repeatable)")
    parser.add_argument("--b", action="append", default=[], metavar="KEY=VALUE", help="side B override (repeatable)")
    parser.add_argument("--data", default="tfds", help="tfds (default), synthetic or a PATH")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(compare(args.model, args.a, args.b, args.data_dir, args.warmup, args.steps, args.rounds,
                             args.data)))


if __name__ == "__main__":
    main()
