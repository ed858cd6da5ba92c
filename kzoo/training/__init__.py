"""Training library behind `tools/train.py`: the phased runner, strategies, worker roles, refit, evaluation.

`train()` (`kzoo.training.runner`) runs one entry end to end; `distill_run()` trains a student of a
finished run; `evaluate_run()` scores a finished run on a split.
"""

from kzoo import start

start()  # before the imports below load TensorFlow: its start-up lines hidden (see kzoo.start)

from kzoo.errors import RunDirError  # noqa: E402
from kzoo.run_dir import RunDir  # noqa: E402
from kzoo.training.student_run import distill_run  # noqa: E402
from kzoo.training.evaluate import evaluate_run  # noqa: E402
from kzoo.training.process import set_mixed_precision, set_seed  # noqa: E402
from kzoo.training.runner import resolve_config, train  # noqa: E402
from kzoo.training.strategy import STRATEGIES, get_strategy  # noqa: E402
from kzoo.train_request import TrainRequest  # noqa: E402

__all__ = [
    "STRATEGIES",
    "RunDir",
    "RunDirError",
    "TrainRequest",
    "distill_run",
    "evaluate_run",
    "get_strategy",
    "resolve_config",
    "set_mixed_precision",
    "set_seed",
    "train",
]
