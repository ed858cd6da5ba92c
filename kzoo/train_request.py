"""`TrainRequest`: what a training run is asked to do, declared once.

`kzoo.training.train(request)` runs one; `kzoo-train` and `kzoo-distill` build one from their flags
(`kzoo.cli.common.add_train_arguments`: one flag per field, `dest` the field's name), and `kzoo-tune`
composes one per trial from its base request (`dataclasses.replace`). Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping


@dataclasses.dataclass
class TrainRequest:
    """What `train()` was asked to do (the flags of `tools/train.py`)."""

    model: str
    config_path: str | None = None
    overrides: Iterable[str] | Mapping[str, Any] = ()
    data: str = "auto"
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    # The runtime flags: None keeps the config's `runtime` section (its default, a `--set`, a resumed run's).
    strategy: str | None = None
    mixed_precision: bool | None = None
    jit_compile: bool | None = None
    seed: int | None = None
    deterministic: bool | None = None
    output: str | None = None
    resume: bool = False
    tiny: bool = False
    export: bool = True
    verbose: int | None = None
    # False: the test phase is skipped and the bundle's test split dropped unread (a hyperparameter
    # search scores trials on validation only; kzoo.tuning).
    test: bool = True


def request_from_flags(model: str, flags: Mapping[str, Any]) -> TrainRequest:
    """The `TrainRequest` for entry `model` and keyword `flags` (field names); TypeError naming the valid ones."""
    names = [field.name for field in dataclasses.fields(TrainRequest)]
    unknown = sorted(set(flags) - set(names[1:]))
    if unknown:
        raise TypeError(f"train() got unknown flag(s) {', '.join(unknown)}; valid: {', '.join(names[1:])}")
    return TrainRequest(model, **flags)
