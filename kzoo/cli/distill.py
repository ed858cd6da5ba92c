"""Distil a finished teacher run into a (smaller) zoo entry; the student's run is a normal run.

    python tools/distill.py --teacher runs/cnn-20250101-120000 --student cnn_small
    python tools/distill.py --teacher runs/lstm-X --student lstm_small --set distill.temperature=4 --set distill.alpha=0.2

Takes the data, strategy and output flags of tools/train.py. Loss: alpha * hard-label loss +
(1 - alpha) * T^2 * KL(teacher_T || student_T), with `distill.temperature` (T) and
`distill.alpha` from the student's config and --set. Text students share the teacher's vocabulary.
"""

from __future__ import annotations

import json
from typing import Sequence

from kzoo.cli.checks import check_exists, check_train_args, tool_parser
from kzoo.cli.common import add_train_arguments, framework_start, run_tool


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), train the student, print a JSON summary; return 0."""
    parser = tool_parser(__doc__)
    parser.add_argument("--teacher", required=True, help="the teacher's finished run directory")
    add_train_arguments(parser, model_flag="--student")
    namespace = parser.parse_args(argv)
    check_exists(parser, "--teacher", namespace.teacher, "run directory")
    check_train_args(parser, namespace, "--student")
    args = vars(namespace)
    with framework_start(args.pop("verbose")):  # imported after parsing: TensorFlow loads in seconds (start-up latency)
        from kzoo.training import distill_run

    metrics = distill_run(args.pop("teacher"), args.pop("model"), **args)
    print(json.dumps({"model": metrics["model"], "teacher": metrics["distill"]["teacher"], "data": metrics["data"]["source"],
                      "test": metrics["test"], "epochs_run": metrics["epochs_run"], "run_dir": metrics["run_dir"]}))
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-distill`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
