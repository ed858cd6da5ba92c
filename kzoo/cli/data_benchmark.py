"""Input-pipeline throughput of a zoo entry's training data, without a model.

    python tools/data_benchmark.py --model mlp --data-dir ~/tensorflow_datasets --batches 200

Builds the entry's `DataBundle`, iterates the whole training dataset once (warm-up: fills the
cache), then times `--batches` batches (repeating the dataset as needed) and prints JSON lines:
one with the load time, one with examples/sec and ms/batch.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Sequence

import kzoo
from kzoo.cli.checks import check_data, check_minimum, check_models, tool_parser
from kzoo.cli.common import add_verbose_argument, framework_start, run_tool


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse `argv` (None: `sys.argv[1:]`) into the tool's namespace."""
    parser = tool_parser(__doc__)
    parser.add_argument("--model", required=True, help="zoo entry whose data to load (e.g. mlp, lstm)")
    parser.add_argument("--data", default="auto", help="auto, tfds, synthetic or a path to your own files")
    parser.add_argument("--data-dir", default=None, help="tfds data directory (default $TFDS_DATA_DIR)")
    parser.add_argument("--batches", type=int, default=200, help="batches to time after the warm-up pass")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    check_models(parser, [args.model])
    check_data(parser, args.data)
    check_minimum(parser, args, "batches", "batch_size")
    check_minimum(parser, args, "seed", minimum=0)
    return args


def _count(batch) -> int:
    targets = batch[1]
    return int(targets.shape[0])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, time the entry's training pipeline, print two JSON lines; return 0."""
    args = parse_args(argv)
    with framework_start(args.verbose):  # imported after parsing: TensorFlow takes seconds to load (start-up latency)
        from kzoo.tasks import load_data
    config = kzoo.get_config(args.model)
    started = time.perf_counter()
    bundle = load_data(config, source=args.data, data_dir=args.data_dir, seed=args.seed, batch_size=args.batch_size)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    warm_examples = sum(_count(b) for b in bundle.train)  # warm-up: one full pass fills the cache
    warmup_seconds = time.perf_counter() - started
    print(json.dumps({"model": args.model, "source": bundle.source, "dataset": bundle.name, "sizes": bundle.sizes,
                      "load_seconds": round(load_seconds, 2), "warmup_pass_seconds": round(warmup_seconds, 2),
                      "warmup_examples": warm_examples}), flush=True)

    iterator = iter(bundle.train.repeat())
    examples = 0
    started = time.perf_counter()
    for _ in range(args.batches):
        examples += _count(next(iterator))
    seconds = time.perf_counter() - started
    print(json.dumps({"model": args.model, "batches": args.batches, "examples": examples,
                      "examples_per_sec": round(examples / seconds, 1),
                      "ms_per_batch": round(1000 * seconds / args.batches, 3)}), flush=True)
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-data-benchmark`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
