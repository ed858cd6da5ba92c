"""Train a zoo entry end to end: `python tools/train.py --model lstm` (see --help)."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from kzoo.cli.common import add_train_arguments, run_tool
from kzoo.run_dir import RunDir
from kzoo.training import train
from kzoo.training.summary import format_summary


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), train the entry, print a JSON summary; return 0."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_train_arguments(parser)
    args = vars(parser.parse_args(argv))

    metrics = train(args.pop("model"), **args)
    if metrics.get("status") == "finished" and "test" in metrics:
        print(format_summary(metrics, RunDir(metrics["run_dir"]).config()), flush=True)
    print(json.dumps({"model": metrics["model"], "data": metrics["data"]["source"], "test": metrics["test"],
                      "epochs_run": metrics["epochs_run"], "run_dir": metrics["run_dir"]}))
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-train`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
