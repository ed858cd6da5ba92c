"""Run a kzoo tool as N local workers: `python tools/launch_local.py --workers 2 -- tools/train.py --model mlp --strategy multi_worker`.

Each worker gets a `TF_CONFIG` naming all N on 127.0.0.1 (free ports); output lines are prefixed
`[w<i>]`. Exits with the first non-zero worker exit code, else 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from kzoo.cli.checks import check_minimum, tool_parser
from kzoo.cli.common import framework_start, run_tool


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), run the command after `--` as N workers; return the
    first non-zero worker exit code, else 0."""
    parser = tool_parser(__doc__)
    parser.add_argument("--workers", type=int, default=2, help="number of local worker processes")
    parser.add_argument("--threads", type=int, default=None,
                        help="TensorFlow threads per worker (default: cores / workers)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS...] (run with this Python)")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, e.g. -- tools/train.py --model mlp --strategy multi_worker")
    check_minimum(parser, args, "workers", "threads")
    if not command[0].startswith("-") and not os.path.isfile(command[0]):
        parser.error(f"{command[0]}: no such script (the command after -- is run with this Python)")

    with framework_start():  # imported after parsing: kzoo.training loads TensorFlow, seconds (start-up latency)
        from kzoo.training.launch import launch_local
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    codes = launch_local([sys.executable, *command], args.workers, cpu_threads=threads)
    print(f"launch_local: worker exit codes {codes}", flush=True)
    return next((c for c in codes if c != 0), 0)


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-launch-local`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
