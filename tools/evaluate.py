#!/usr/bin/env python
"""Print a finished run's metrics as one JSON object: `python tools/evaluate.py RUN_DIR [--split test]`.

RUN_DIR may also be a SavedModel exported inside a run (`RUN_DIR/export/1`); the run's model and
preprocessing are evaluated. Recommenders report HR@10/NDCG@10 with the leave-one-out protocol.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.training.cli import add_data_arguments, run_tool  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory (or a SavedModel exported inside one)")
    add_data_arguments(parser)
    parser.add_argument("--split", default="test", help="train, val or test")
    parser.add_argument("--seed", type=int, default=None, help="default: the run's seed")
    args = parser.parse_args()

    from kzoo.training.evaluate import evaluate_run

    print(json.dumps(evaluate_run(args.run, args.data, args.data_dir, args.split, args.seed)))
    return 0


if __name__ == "__main__":
    run_tool(main)
