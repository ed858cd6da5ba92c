"""Command-line plumbing shared by the tools: the shared flags, and errors as one line + exit 2.

Nothing here imports TensorFlow: `--help` and bad flags answer before it loads (the tools import
their heavy modules after parsing, inside `framework_start`).
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from typing import Callable, Sequence

from kzoo.cli.quiet import framework_start
from kzoo.errors import KzooError, TrainingDiverged
from kzoo.schema import STRATEGIES

__all__ = ["USER_ERRORS", "add_data_arguments", "add_train_arguments", "add_verbose_argument", "framework_start",
           "run_tool"]

# The types that mean bad input: every kzoo error (but the two `run_tool` catches first), and a path
# the user named that does not exist (FileNotFoundError).
USER_ERRORS = (KzooError, FileNotFoundError)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--data` and `--data-dir` to `parser` (returns nothing)."""
    parser.add_argument("--data", default="auto",
                        help="auto (real data when available, else synthetic), tfds, synthetic, or a PATH to your own files")
    parser.add_argument("--data-dir", default=None,
                        help="tfds data_dir holding prepared datasets (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """Add `--verbose` (TensorFlow's start-up and INFO lines shown) to `parser` (returns nothing)."""
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log lines (hidden by default)")


def add_train_arguments(parser: argparse.ArgumentParser, model_flag: str = "--model", required: bool = True) -> None:
    """Add the flags of `kzoo-train` to `parser` (returns nothing).

    Each flag's `dest` is a field of `kzoo.train_request.TrainRequest` (besides `--verbose`, the
    tools' own), so a tool builds the request from the parsed flags without naming them again.
    Also used by other tools that train: `kzoo-distill` names the entry `model_flag="--student"`;
    either way it lands in `args.model`. `required=False` lets a tool check it itself.
    """
    parser.add_argument(model_flag, dest="model", required=required,
                        help="zoo entry name, any case (see --list-models)")
    parser.add_argument("--config", dest="config_path", default=None, help="a YAML file instead of the entry's default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, repeatable (e.g. --set model.units=64)")
    add_data_arguments(parser)
    # These flags default to None: left out, the config's value applies (the entry's, a --config file's,
    # a --set's or a resumed run's); `--describe NAME` shows them.
    parser.add_argument("--epochs", type=int, default=None, help="epochs to train (default: the config's train.epochs)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="global batch size, split across replicas (default: the config's train.batch_size)")
    parser.add_argument("--strategy", default=None,
                        help=f"one of: {', '.join(STRATEGIES)} (default: the config's runtime.strategy, auto)")
    parser.add_argument("--mixed-precision", action="store_true", default=None,
                        help="mixed_float16 on GPU, mixed_bfloat16 on CPU/TPU (default: the config's "
                             "runtime.mixed_precision, off)")
    parser.add_argument("--jit-compile", action="store_true", default=None,
                        help="compile train/eval steps with XLA (default: the config's runtime.jit_compile)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the config's runtime.seed, 0)")
    parser.add_argument("--deterministic", action="store_true", default=None,
                        help="enable TensorFlow op determinism (default: the config's runtime.deterministic, off)")
    parser.add_argument("--output", default=None, help="run directory (default runs/<model>-<timestamp>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its last finished epoch")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long smoke run: the entry's tiny config on a slice of the data (data.max_examples)")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")
    add_verbose_argument(parser)


def run_tool(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a tool's `main(argv)` (None: `sys.argv[1:]`) and exit with its status.

    Bad input (`USER_ERRORS`) and a full disk exit 2 with `error: <message>` on stderr and no traceback; a run
    that diverged (`TrainingDiverged`: nothing exported) exits 1 the same way; Ctrl-C exits 130 with
    one line (a run's says how to resume it).
    """
    try:
        code = main(argv)
    except TrainingDiverged as err:  # a KzooError, but the run failed, not its input
        _fail(err, 1)
    except KeyboardInterrupt as err:  # a run's TrainingInterrupted (a KzooError too) says how to continue it
        _quiet_unused_tensorflow_objects()
        _fail(err if err.args else KeyboardInterrupt("interrupted"), 130)
    except USER_ERRORS as err:
        _fail(err, 2)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {err.filename}" if err.filename else ""
        _fail(OSError(f"no space left on the device{where} ({err.strerror}); free some and continue with --resume"), 2)
    sys.exit(code or 0)


class _NeverUsedFilter(logging.Filter):
    """Drops TensorFlow's "Object was never used" dump: after Ctrl-C, the half-built graph's objects are
    collected unused (an export interrupted mid-trace printed dozens of lines after the one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Object was never used" not in str(record.msg)


def _quiet_unused_tensorflow_objects() -> None:
    logger = logging.getLogger("tensorflow")  # TensorFlow's Python logger (tf_logging), loaded or not
    if not any(isinstance(f, _NeverUsedFilter) for f in logger.filters):
        logger.addFilter(_NeverUsedFilter())


def _fail(err: BaseException, status: int) -> None:
    message = err.args[0] if err.args else str(err)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)
