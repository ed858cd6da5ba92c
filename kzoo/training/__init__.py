"""Training library behind `tools/train.py`: strategies, callbacks, run directories, `train()`."""

from kzoo.training.run import resolve_config, set_mixed_precision, set_seed, train
from kzoo.training.run_dir import RunDirError, prepare_run_dir
from kzoo.training.strategy import STRATEGIES, StrategyError, get_strategy

__all__ = [
    "STRATEGIES",
    "RunDirError",
    "StrategyError",
    "get_strategy",
    "prepare_run_dir",
    "resolve_config",
    "set_mixed_precision",
    "set_seed",
    "train",
]
