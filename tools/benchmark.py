#!/usr/bin/env python
"""Benchmark zoo entries on real data (one JSON line per run), or their step speed (--speed).

    python tools/benchmark.py --model lstm --data-dir ../shared/datasets/tfds --seeds 3 --json out.jsonl
    python tools/benchmark.py --all --data-dir ../shared/datasets/tfds
    python tools/benchmark.py --model transformer_seq2seq --data ../shared/datasets/raw/multi30k
    python tools/benchmark.py --model lstm --speed
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.training.cli import run_tool  # noqa: E402


def _emit(record: dict, json_path: str | None) -> None:
    line = json.dumps(record, default=float)
    print(line, flush=True)
    if json_path:
        with open(json_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _entries_with_real_data(data_dir: str | None) -> list[str]:
    import kzoo
    from kzoo.data import is_prepared, resolve_data_dir

    chosen = []
    for name in kzoo.list_models():
        dataset = kzoo.get_config(name)["data"].get("dataset", "")
        try:
            if is_prepared(dataset, resolve_data_dir(data_dir)):
                chosen.append(name)
        except Exception:  # not a tfds name (e.g. multi30k raw files): needs --data PATH
            continue
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help="entry to benchmark (repeatable)")
    parser.add_argument("--all", action="store_true", help="every entry whose real tfds data is in --data-dir")
    parser.add_argument("--data", default="tfds", help="tfds (default) or a PATH to raw files")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=None, help="append every record to this JSON-lines file")
    parser.add_argument("--speed", action="store_true", help="only measure training-step throughput")
    parser.add_argument("--batch-size", type=int, default=None, help="--speed batch size")
    parser.add_argument("--steps", type=int, default=30, help="--speed timed steps")
    parser.add_argument("--jit-compile", action="store_true", help="--speed with XLA")
    parser.add_argument("--serving", action="append", default=[], metavar="EXPORT_DIR",
                        help="batch-1 latency (p50/p99 over 1000 calls) and batch-256 throughput of a SavedModel")
    args = parser.parse_args()

    import kzoo
    from kzoo import benchmark

    for export_dir in args.serving:
        _emit(benchmark.serving_run(export_dir, benchmark.serving_inputs(export_dir, 1),
                                    benchmark.serving_inputs(export_dir, 256)), args.json)
    if args.serving and not (args.model or args.all):
        return 0
    models = args.model or []
    if args.all:
        models = _entries_with_real_data(args.data_dir)
    if not models:
        parser.error("give --model NAME or --all")
    for name in models:
        kzoo.get_entry(name)  # unknown names fail before any work
    for name in models:
        if args.speed:
            _emit(benchmark.speed_run(name, args.batch_size, steps=args.steps, overrides=args.overrides,
                                      jit_compile=args.jit_compile), args.json)
            continue
        records = []
        for seed in range(args.seeds):
            record = benchmark.accuracy_run(name, seed, args.data, args.data_dir, args.overrides, args.epochs)
            records.append(record)
            _emit(record, args.json)
        summary = benchmark.summarize(records, kzoo.get_entry(name).task)
        _emit({"model": name, "summary": summary}, args.json)
    return 0


if __name__ == "__main__":
    run_tool(main)
