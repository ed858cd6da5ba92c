"""Training library behind `tools/train.py`: the phased runner, strategies, worker roles, refit, evaluation.

`train()` (`kzoo.training.runner`) runs one entry end to end; `distill_run()` trains a student of a
finished run; `evaluate_run()` scores a finished run on a split.
"""

from kzoo.run_dir import RunDir, RunDirError
from kzoo.training.distill import distill_run
from kzoo.training.evaluate import evaluate_run
from kzoo.training.process import set_mixed_precision, set_seed
from kzoo.training.runner import resolve_config, train
from kzoo.training.strategy import STRATEGIES, StrategyError, get_strategy

__all__ = [
    "STRATEGIES",
    "RunDir",
    "RunDirError",
    "StrategyError",
    "distill_run",
    "evaluate_run",
    "get_strategy",
    "resolve_config",
    "set_mixed_precision",
    "set_seed",
    "train",
]
