"""Search an entry's hyperparameters on your data: `python tools/tune.py --model gmf --trials 20` (see --help).

Each trial is a kzoo training scored on the validation split (the test split is never read), its
values drawn from the entry's `tune:` section, stopped early by Optuna's pruner. The study directory
(--study PATH, default studies/<entry>) holds the study's journal, every trial's run, trials.json /
trials.csv, plots and best.yaml (train it with `kzoo-train --config`). The same command resumes a
killed study; --workers K runs K processes on it; --study postgresql://... shares it between machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from typing import Sequence

from kzoo.cli.checks import check_data, check_exists, check_minimum, check_models, tool_parser
from kzoo.cli.common import add_data_arguments, add_verbose_argument, framework_start, run_tool
from kzoo.schema import TUNE_PRUNERS, TUNE_URL_SCHEMES
from kzoo.train_request import TrainRequest

# (package, module) of the `tune` extra that every study imports
TUNE_PACKAGES = (("optuna", "optuna"), ("optuna-integration", "optuna_integration"))


def build_parser() -> argparse.ArgumentParser:
    """Return the tool's argument parser."""
    parser = tool_parser(__doc__)
    parser.add_argument("--model", required=True, help="zoo entry name, any case (see kzoo-train --list-models)")
    parser.add_argument("--trials", type=int, required=True, help="trials in the study, all workers and resumes together")
    parser.add_argument("--timeout", type=float, default=None, metavar="MIN",
                        help="stop starting trials after MIN minutes (each worker; a running trial finishes)")
    parser.add_argument("--workers", type=int, default=1, metavar="K", help="processes on this machine sharing the study")
    parser.add_argument("--study", default=None, metavar="PATH|URL",
                        help="study directory (default studies/<entry>), or a database URL shared by several "
                             f"machines ({', '.join(s + '://' for s in TUNE_URL_SCHEMES[:1])}...)")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="with --study URL: this machine's study directory (default studies/<entry>)")
    parser.add_argument("--study-name", default=None, help="the study's name in its storage (default: the entry)")
    parser.add_argument("--config", dest="config_path", default=None, help="a YAML file instead of the entry's default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override every trial starts from, repeatable")
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the config's)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--tiny", action="store_true", help="tune the entry's tiny config (a smoke study)")
    parser.add_argument("--seed", type=int, default=0, help="the samplers' seed (default: 0)")
    parser.add_argument("--pruner", default="median", choices=TUNE_PRUNERS,
                        help="how bad trials are stopped early (default: median)")
    parser.add_argument("--final", action="store_true",
                        help="then train best.yaml (with train.refit where the entry has it) and test it once")
    add_verbose_argument(parser)
    return parser


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already imported with no spec (optuna_integration's lazy module)
        return True


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The argument checks made before Optuna or TensorFlow load (one `error:` line, exit 2)."""
    check_models(parser, [args.model])
    check_exists(parser, "--config", args.config_path, "file")
    check_data(parser, args.data)
    check_minimum(parser, args, "trials", "workers", "epochs", "batch_size")
    check_minimum(parser, args, "seed", minimum=0)
    if args.timeout is not None and not args.timeout > 0:
        parser.error(f"--timeout must be > 0 minutes, got {args.timeout:g}")
    missing = [package for package, module in TUNE_PACKAGES if not _installed(module)]
    if missing:  # the `tune` extra is optional: say so instead of an ImportError traceback mid-start
        parser.error(f"kzoo-tune needs {' and '.join(missing)}, which is not installed: pip install -e \".[tune]\"")
    study = args.study
    if study is not None and "://" in study:
        scheme = study.split("://", 1)[0]
        if scheme not in TUNE_URL_SCHEMES:
            parser.error(f"--study {study}: unknown database scheme {scheme!r}; valid: {', '.join(TUNE_URL_SCHEMES)} "
                         "(or a study directory)")
    elif study is not None:
        if os.path.exists(study) and not os.path.isdir(study):
            parser.error(f"--study {study}: is a file; give a study directory or a database URL")
        if args.output is not None:
            parser.error("--output names the study directory of a --study URL; with --study PATH, PATH is it")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), run or resume the study, print its table and a JSON line; return 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    with framework_start(args.verbose):  # imported after parsing: TensorFlow takes seconds to load
        from kzoo.tuning.study import TuneRequest, tune

        import kzoo.training  # noqa: F401  (TensorFlow's start-up lines fall inside the quiet window)
    # The trials' base request: kzoo-train's flags that a study shares (its --seed and --output are the study's own).
    train = TrainRequest(args.model, config_path=args.config_path, overrides=args.overrides, data=args.data,
                         data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size, tiny=args.tiny)
    request = TuneRequest(train, trials=args.trials, timeout_minutes=args.timeout, workers=args.workers,
                          study=args.study, output=args.output, study_name=args.study_name, seed=args.seed,
                          pruner=args.pruner, final=args.final)
    summary = tune(request)
    final = summary.pop("final", None)
    line = {k: summary[k] for k in ("study_dir", "trials", "monitor", "best", "best_config")}
    if final is not None:
        line["final"] = {"test": final.get("test"), "run_dir": final.get("run_dir")}
    print(json.dumps(line))
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-tune`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
