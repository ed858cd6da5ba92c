"""Command-line plumbing shared by the tools: the train flags, and errors as one line + exit 2."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from kzoo.data import DataError, DataUnavailableError
from kzoo.entries import UnknownModelError
from kzoo.errors import ConfigError, TrainingDiverged, UnsafeFileError
from kzoo.export import ExportError
from kzoo.run_dir import RunDirError
from kzoo.schema import STRATEGIES
from kzoo.tasks import UnknownTaskError
from kzoo.training.strategy import StrategyError

# FileNotFoundError: a path the user named does not exist (data file, config, run dir).
USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, UnknownModelError, UnknownTaskError, RunDirError, StrategyError, FileNotFoundError,
    DataError, DataUnavailableError, ExportError, UnsafeFileError,
)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--data` and `--data-dir` to `parser` (returns nothing)."""
    parser.add_argument("--data", default="auto",
                        help="auto (real data when available, else synthetic), tfds, synthetic, or a PATH to your own files")
    parser.add_argument("--data-dir", default=None,
                        help="tfds data_dir holding prepared datasets (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")


def add_train_arguments(parser: argparse.ArgumentParser, model_flag: str = "--model") -> None:
    """Add the flags of `kzoo-train` to `parser` (returns nothing).

    Also used by other tools that train: `kzoo-distill` names the entry `model_flag="--student"`;
    either way it lands in `args.model`.
    """
    parser.add_argument(model_flag, dest="model", required=True, help="zoo entry name (see kzoo.list_models())")
    parser.add_argument("--config", dest="config_path", default=None, help="a YAML file instead of the entry's default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, repeatable (e.g. --set model.units=64)")
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None, help="global batch size (split across replicas)")
    # The runtime flags default to None: the config's `runtime` section (or a resumed run's) applies.
    parser.add_argument("--strategy", default=None, help=f"one of: {', '.join(STRATEGIES)} (default: auto)")
    parser.add_argument("--mixed-precision", action="store_true", default=None,
                        help="mixed_float16 on GPU, mixed_bfloat16 on CPU/TPU")
    parser.add_argument("--jit-compile", action="store_true", default=None, help="compile train/eval steps with XLA")
    parser.add_argument("--seed", type=int, default=None, help="(default: 0)")
    parser.add_argument("--deterministic", action="store_true", default=None, help="enable TensorFlow op determinism")
    parser.add_argument("--output", default=None, help="run directory (default runs/<model>-<timestamp>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its last finished epoch")
    parser.add_argument("--tiny", action="store_true", help="use the entry's tiny config: a seconds-long smoke run")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip the SavedModel export")


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input (reported as one line), not a bug."""
    return USER_ERRORS


def run_tool(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a tool's `main(argv)` (None: `sys.argv[1:]`) and exit with its status.

    Bad input (`user_errors()`) exits 2 with `error: <message>` on stderr and no traceback; a run
    that diverged (`TrainingDiverged`: nothing exported) exits 1 the same way; Ctrl-C exits 130 with
    one line (a run's says how to resume it).
    """
    try:
        code = main(argv)
    except user_errors() as err:
        _fail(err, 2)
    except TrainingDiverged as err:
        _fail(err, 1)
    except KeyboardInterrupt as err:  # a run's TrainingInterrupted says how to continue it
        _fail(err if err.args else KeyboardInterrupt("interrupted"), 130)
    sys.exit(code or 0)


def _fail(err: BaseException, status: int) -> None:
    message = err.args[0] if err.args else str(err)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)
