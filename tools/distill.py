#!/usr/bin/env python
"""Distil a finished teacher run into a (smaller) zoo entry; the student's run is a normal run.

    python tools/distill.py --teacher runs/cnn-20250101-120000 --student cnn_small
    python tools/distill.py --teacher runs/lstm-X --student lstm_small --set distill.temperature=4 --set distill.alpha=0.2

Takes the data, strategy and output flags of tools/train.py. Loss: alpha * hard-label loss +
(1 - alpha) * T^2 * KL(teacher_T || student_T), with `distill.temperature` (T) and
`distill.alpha` from the student's config and --set. Text students share the teacher's vocabulary.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.training.cli import add_train_arguments, run_tool  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", required=True, help="the teacher's finished run directory")
    add_train_arguments(parser, model_flag="--student")
    args = vars(parser.parse_args())

    from kzoo.compression import distill_run

    metrics = distill_run(args.pop("teacher"), args.pop("model"), **args)
    print(json.dumps({"model": metrics["model"], "teacher": metrics["distill"]["teacher"], "data": metrics["data"]["source"],
                      "test": metrics["test"], "epochs_run": metrics["epochs_run"], "run_dir": metrics["run_dir"]}))
    return 0


if __name__ == "__main__":
    run_tool(main)
