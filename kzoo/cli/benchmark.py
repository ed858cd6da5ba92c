"""Benchmark zoo entries on real data (one JSON line per run), or their step speed (--speed).

    python tools/benchmark.py --model lstm --data-dir ~/tensorflow_datasets --seeds 3 --json out.jsonl
    python tools/benchmark.py --all --data-dir ~/tensorflow_datasets
    python tools/benchmark.py --model transformer_seq2seq --data path/to/multi30k
    python tools/benchmark.py --model lstm --speed
    python tools/benchmark.py --vs-baseline --model neumf --data-dir ~/tensorflow_datasets
    python tools/benchmark.py --vs-baseline --model lstm --data-dir D --epochs 1 --max-train-examples 5000
    python tools/benchmark.py --serving EXPORT_DIR/1 --eval-data-dir ~/tensorflow_datasets
    python tools/benchmark.py --serving RUN/export/1 --serving RUN/export/litert/1 --serving RUN/export/onnx/1
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Sequence

import kzoo
from kzoo.bench import BASELINES
from kzoo.cli.checks import check_data, check_exists, check_minimum, check_models, entry_name, tool_parser
from kzoo.cli.common import add_verbose_argument, framework_start, run_tool


def _emit(record: dict, json_path: str | None) -> None:
    line = json.dumps(record, default=float)
    print(line, flush=True)
    if json_path:
        with open(json_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def _entries_with_real_data(data_dir: str | None) -> list[str]:
    from kzoo.data import is_prepared, resolve_data_dir  # loaded by main, after parsing (start-up latency)

    chosen = []
    for name in kzoo.list_models():
        dataset = kzoo.get_config(name).data.dataset
        try:
            if is_prepared(dataset, resolve_data_dir(data_dir)):
                chosen.append(name)
        except Exception:  # not a tfds name (e.g. multi30k raw files): needs --data PATH
            continue
    return chosen


def _vs_baseline(models: list[str], args) -> None:
    import keras  # loaded by main, after parsing (start-up latency)

    from kzoo.bench import vs_baseline

    common = dict(max_train_examples=args.max_train_examples, overrides=args.overrides, jit_compile=args.jit_compile)
    for name in models:
        if args.vs_baseline in ("both", "throughput"):
            _emit(vs_baseline.throughput(name, args.data_dir, warmup=args.warmup_steps, steps=args.steps,
                                         rounds=args.rounds, steps_per_execution=args.steps_per_execution,
                                         **common), args.json)
            keras.backend.clear_session()
        if args.vs_baseline in ("both", "time"):
            _emit(vs_baseline.time_to_metric(name, args.data_dir, epochs=args.epochs, **common), args.json)


def build_parser() -> argparse.ArgumentParser:
    """Return the tool's argument parser."""
    parser = tool_parser(__doc__)
    parser.add_argument("--model", action="append", default=[], help="entry to benchmark (repeatable)")
    parser.add_argument("--all", action="store_true", help="every entry whose real tfds data is in --data-dir")
    parser.add_argument("--data", default="tfds", help="tfds (default) or a PATH to raw files")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds: FIRST..FIRST+N-1")
    parser.add_argument("--first-seed", type=int, default=0, metavar="FIRST",
                        help="first seed (to add seeds to an earlier run: --first-seed 1 --seeds 2)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default=None, help="append every record to this JSON-lines file")
    parser.add_argument("--speed", action="store_true", help="only measure training-step throughput")
    parser.add_argument("--batch-size", type=int, default=None, help="--speed batch size")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (--speed: 30; --vs-baseline: per model)")
    parser.add_argument("--jit-compile", action="store_true", help="--speed / --vs-baseline: kzoo with XLA")
    parser.add_argument("--serving", action="append", default=[], metavar="EXPORT_DIR",
                        help="batch-1 latency (p50/p99 over 1000 calls) and batch-256 throughput of a SavedModel "
                             "or a LiteRT / ONNX export (one version folder; size too)")
    parser.add_argument("--eval-data-dir", default=None, metavar="DIR",
                        help="with --serving: also score serving_default on the entry's raw test split: the tfds "
                             "data dir (classifiers) or the raw parallel-text folder (translation, BLEU)")
    parser.add_argument("--vs-baseline", nargs="?", const="both", choices=("both", "throughput", "time"),
                        help="compare with the hand-written baseline in kzoo/bench/baselines/ (lstm, transformer_cls, neumf)")
    parser.add_argument("--max-train-examples", type=int, default=None, help="--vs-baseline: first N training reviews")
    parser.add_argument("--warmup-steps", type=int, default=10, help="--vs-baseline: steps before each timed window")
    parser.add_argument("--rounds", type=int, default=2, help="--vs-baseline: alternating windows per side")
    parser.add_argument("--steps-per-execution", type=int, default=None,
                        help="--vs-baseline throughput: kzoo with this steps_per_execution instead of the config's")
    add_verbose_argument(parser)
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad arguments in one line (exit 2) without loading TensorFlow: paths, flag combinations, names, ranges."""
    check_minimum(parser, args, "seeds", "epochs", "batch_size", "steps", "rounds", "max_train_examples",
                  "steps_per_execution")
    check_minimum(parser, args, "first_seed", "warmup_steps", minimum=0)
    check_data(parser, args.data, keywords=("tfds", "auto", "synthetic"))
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        parser.error(f"--json {args.json}: its folder does not exist")
    for export_dir in args.serving:
        check_exists(parser, "--serving", export_dir, "export folder")
    if args.eval_data_dir and not args.serving:
        parser.error("--eval-data-dir scores --serving exports: give --serving EXPORT_DIR")
    check_exists(parser, "--eval-data-dir", args.eval_data_dir, "folder")
    if args.all and args.model:
        parser.error("give --model NAME or --all, not both")
    if not (args.model or args.all or args.serving):
        parser.error("give --model NAME or --all")
    if args.speed and args.vs_baseline:
        parser.error("--speed and --vs-baseline are different benchmarks: give one")
    check_models(parser, args.model)
    models = {entry_name(name) for name in args.model}
    if args.vs_baseline and not args.all and not models <= set(BASELINES):
        parser.error(f"--vs-baseline has hand-written baselines for {', '.join(BASELINES)} only")
    if args.vs_baseline and args.max_train_examples and "neumf" in models:
        parser.error("--max-train-examples applies to the text entries only (neumf always uses all of ML-100k)")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), run the chosen benchmarks, print one JSON line per
    record (and append it to `--json`); return 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    with framework_start(args.verbose):  # imported after the checks: TensorFlow takes seconds to load (start-up latency)
        from kzoo.bench import runs

    models = _entries_with_real_data(args.data_dir) if args.all else [kzoo.get_entry(n).name for n in args.model]
    if args.all and not models and not args.serving:
        parser.error(f"--all: no entry's tfds data is prepared in {args.data_dir or 'the default data dir'}")
    if args.vs_baseline and any(name not in BASELINES for name in models):
        parser.error(f"--vs-baseline has hand-written baselines for {', '.join(BASELINES)} only")
    # Latency first (one record), then the score (another): each is written as soon as it exists.
    runs.serving_benchmark(args.serving, args.eval_data_dir, lambda record: _emit(record, args.json))
    if not models:
        return 0
    if args.vs_baseline:
        _vs_baseline(models, args)
        return 0
    for name in models:
        if args.speed:
            _emit(runs.speed_run(name, args.batch_size, steps=args.steps or 30, overrides=args.overrides,
                                 jit_compile=args.jit_compile), args.json)
            continue
        records = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            record = runs.accuracy_run(name, seed, args.data, args.data_dir, args.overrides, args.epochs)
            records.append(record)
            _emit(record, args.json)
        summary = runs.summarize(records, kzoo.get_config(name).task_object.main_metrics)
        _emit({"model": name, "summary": summary}, args.json)
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-benchmark`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
