"""Build a zoo entry: its resolved config, its builder, and its task's compile settings.

    model = kzoo.build("lstm", units=32, **{"train.learning_rate": 3e-4})

`entry_summaries` lists the entries with their parameter counts (what `kzoo-train --list-models` prints).
"""

from __future__ import annotations

from typing import Mapping

import keras

from kzoo.entry_config import get_config, get_entry, list_models
from kzoo.tasks import compile_model


def build_from_config(config: Mapping, compile: bool = True, steps_per_epoch: int | None = None) -> keras.Model:
    """Build (and by default compile) the model a resolved config describes."""
    entry = get_entry(config.entry)
    model = entry.builder(**config.model)
    if compile:
        compile_model(model, config, steps_per_epoch=steps_per_epoch)
    return model


def build(name: str, compile: bool = True, **overrides) -> keras.Model:
    """Build a zoo entry by name: `kzoo.build("lstm", units=32, **{"train.learning_rate": 1e-3})`.

    Keyword overrides without a dot refer to the `model` section. Returns a `keras.Model`,
    compiled with the entry's default optimizer, loss and metrics unless `compile=False`.
    """
    config = get_config(name, overrides)
    return build_from_config(config, compile=compile)


def entry_summaries(pattern: str = "*") -> list[dict]:
    """One dict per entry matching `pattern`: `entry`, `aliases`, `task`, `dataset`, `parameters`
    (of its default config, built uncompiled; nothing is written) and `reference` (metric, value, source)."""
    summaries = []
    for name in list_models(pattern):
        config = get_config(name)
        summaries.append({
            "entry": name, "aliases": list(get_entry(name).aliases), "task": config.task,
            "dataset": config.data.dataset,
            "parameters": build_from_config(config, compile=False).count_params(),
            "reference": config.reference.to_dict(),
        })
    return summaries
