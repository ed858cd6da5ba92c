"""`distill_run()`: train a zoo entry as the student of a finished teacher run (`tools/distill.py`)."""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from kzoo import config as config_lib
from kzoo.compression.teacher import Distillation
from kzoo.training.runner import train


def distill_run(teacher: str | os.PathLike, student: str, *, overrides: Iterable[str] | Mapping[str, Any] = (),
                **train_kwargs) -> dict:
    """Distil the teacher run `teacher` into a new (or resumed) run of entry `student`; return its metrics.

    The other keyword arguments are `kzoo.training.train`'s (data, strategy, output, tiny, resume...).
    `distill.temperature` and `distill.alpha` come from the student's config and `overrides`.
    Bad input raises RunDirError or ConfigError with a one-line message before any training.
    """
    plugin = Distillation(teacher)
    if not isinstance(overrides, Mapping):
        overrides = dict(config_lib.parse_override(o) for o in overrides)
    overrides = {**overrides, "distill.teacher": str(plugin.teacher_dir)}
    return train(student, overrides=overrides, plugins=[plugin], **train_kwargs)
