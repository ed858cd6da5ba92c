"""Print a finished run's metrics as one JSON object: `python tools/evaluate.py RUN_DIR [--split test]`.

RUN_DIR may also be a SavedModel exported inside a run (`RUN_DIR/export/1`); the run's model and
preprocessing are evaluated. Recommenders report HR@10/NDCG@10 with the leave-one-out protocol.

The data is the one the run trained on (its config.yaml's data_source): the same files, the same tfds
dataset (--data-dir DIR when it is not in the default data dir), or the same generated set. Other data
(--data naming another source) is refused unless --allow-other-data; the JSON's "data" says what was used.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from kzoo.cli.checks import check_data, check_minimum, tool_parser
from kzoo.cli.common import add_data_arguments, add_verbose_argument, framework_start, run_tool


SPLITS = ("train", "val", "test")  # kzoo.training.evaluate.SPLITS, named here to check before TensorFlow loads


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), evaluate the run, print its metrics as JSON; return 0."""
    parser = tool_parser(__doc__)
    parser.add_argument("run", help="run directory (or a SavedModel exported inside one)")
    add_data_arguments(parser)
    parser.add_argument("--split", default="test", help="train, val or test")
    parser.add_argument("--seed", type=int, default=None, help="default: the run's seed")
    parser.add_argument("--allow-other-data", action="store_true",
                        help="evaluate on a --data source other than the one the run trained on")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.expanduser(args.run)):
        parser.error(f"{args.run!r} is not a finished run directory: it does not exist")
    if args.split not in SPLITS:
        parser.error(f"unknown split {args.split!r}; valid: {', '.join(SPLITS)}")
    check_data(parser, args.data)
    check_minimum(parser, args, "seed", minimum=0)
    with framework_start(args.verbose):  # imported after parsing: TensorFlow takes seconds to load (start-up latency)
        from kzoo.training.evaluate import evaluate_run

    print(json.dumps(evaluate_run(args.run, args.data, args.data_dir, args.split, args.seed, args.allow_other_data)))
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-evaluate`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
