"""Train a zoo entry end to end: `python tools/train.py --model lstm` (see --help).

`--list-models` lists the entries, `--describe NAME` prints one's resolved config with comments.
"""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from kzoo.cli.checks import check_models, check_train_args, tool_parser
from kzoo.cli.common import add_train_arguments, framework_start, run_tool
from kzoo.train_request import TrainRequest


def build_parser() -> argparse.ArgumentParser:
    """Return the tool's argument parser."""
    parser = tool_parser(__doc__)
    add_train_arguments(parser, required=False)
    parser.add_argument("--init-from", metavar="PRESET", default=None,
                        help="fine-tune a preset (PATH, hf://org/name, kaggle://owner/model/keras/variant): start from "
                             "its weights with its vocabulary / id maps (sets train.init_from)")
    parser.add_argument("--list-models", action="store_true",
                        help="list the entries (task, dataset, parameters, reference) and exit")
    parser.add_argument("--describe", metavar="NAME",
                        help="print NAME's resolved config (with --config, --set, --tiny) as YAML, each key's "
                             "meaning and valid values as comments, and exit")
    return parser


def format_entries(summaries: list[dict]) -> str:
    """`kzoo.zoo.entry_summaries()` as a table: entry (aliases), task, dataset, parameters, reference."""
    rows = [("entry", "task", "dataset", "parameters", "reference")]
    for s in summaries:
        name = f"{s['entry']} ({', '.join(s['aliases'])})" if s["aliases"] else s["entry"]
        reference = s["reference"]
        target = f"{reference['metric']} {reference['value']:g}" if reference["value"] is not None else ""
        rows.append((name, s["task"], s["dataset"], f"{s['parameters']:,}", target))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i == 3 else cell.ljust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))).rstrip() for row in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), train the entry, print a summary and a JSON line; return 0.

    `--list-models` and `--describe NAME` print the entries or one config instead.
    """
    parser = build_parser()
    namespace = parser.parse_args(argv)
    check_train_args(parser, namespace)
    if namespace.describe:
        check_models(parser, [namespace.describe], "--describe")
    args = vars(namespace)
    listing, described, verbose = args.pop("list_models"), args.pop("describe"), args.pop("verbose")
    if not (listing or described or args["model"]):
        parser.error("the following arguments are required: --model (or --list-models, --describe NAME)")

    with framework_start(verbose):  # imported after parsing: TensorFlow takes seconds to load (start-up latency)
        from kzoo.entry_config import describe_config
        from kzoo.run_dir import RunDir
        from kzoo.training import train
        from kzoo.training.summary import format_summary
        from kzoo.zoo import entry_summaries
    if listing:
        print(format_entries(entry_summaries()))
        return 0
    if described:
        print(describe_config(described, args["overrides"], args["config_path"], args["tiny"]), end="")
        return 0

    init_from = args.pop("init_from")
    if init_from:
        # JSON-quoted: every path stays a string (YAML would read `2024` or `null` as other types)
        args["overrides"] = [*args["overrides"], f"train.init_from={json.dumps(init_from)}"]
    metrics = train(TrainRequest(**args))  # the flags left are the request's fields (add_train_arguments)
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
