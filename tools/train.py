#!/usr/bin/env python
"""Train a zoo entry end to end: `python tools/train.py --model lstm` (see --help)."""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.training.cli import add_train_arguments, run_tool  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_train_arguments(parser)
    args = vars(parser.parse_args())

    from kzoo.training import train

    metrics = train(args.pop("model"), **args)
    print(json.dumps({"model": metrics["model"], "data": metrics["data"]["source"], "test": metrics["test"],
                      "epochs_run": metrics["epochs_run"], "run_dir": metrics["run_dir"]}))
    return 0


if __name__ == "__main__":
    run_tool(main)
