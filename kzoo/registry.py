"""The model registry: `register_model`, `list_models`, `get_config`, `build` (timm's pattern).

An entry is a small builder function decorated with `@register_model` (`kzoo.entries`); its
hyperparameters live in `zoo_configs/<entry>.yaml`. `get_config` resolves the config through the
schema (defaults, the file, `tiny`, overrides), `build` calls the builder with the `model` section
and compiles the result with the entry's default optimizer, loss and metrics.
"""

from __future__ import annotations

from typing import Any, Mapping

from kzoo import config as config_lib
from kzoo.entries import _ALIASES, _ENTRIES, Entry, UnknownModelError, get_entry, list_models, register_model

__all__ = [
    "Entry", "UnknownModelError", "build", "build_from_config", "get_config", "get_entry", "list_models",
    "register_model", "_ALIASES", "_ENTRIES",
]


def get_config(
    name: str,
    overrides: Mapping[str, Any] | list[str] | None = None,
    config_path: str | None = None,
    tiny: bool = False,
) -> dict:
    """Return the resolved config of an entry: the schema's defaults, its YAML (or `config_path`),
    the file's `tiny` overrides when `tiny`, then dotted `overrides`. Raises ConfigError naming the key."""
    entry = get_entry(name)
    config = config_lib.load_entry_config(entry.config_file, entry.name, config_path, tiny=tiny)
    config["task"] = entry.task
    config["family"] = entry.family
    if overrides:
        config = config_lib.apply_overrides(config, overrides, entry.name)
    return config


def build_from_config(config: Mapping, compile: bool = True, steps_per_epoch: int | None = None):
    """Build (and by default compile) the model a resolved config describes."""
    entry = get_entry(config["entry"])
    model = entry.builder(**config["model"])
    if compile:
        from kzoo.tasks import compile_model

        compile_model(model, config, steps_per_epoch=steps_per_epoch)
    return model


def build(name: str, compile: bool = True, **overrides):
    """Build a zoo entry by name: `kzoo.build("lstm", units=32, **{"train.learning_rate": 1e-3})`.

    Keyword overrides without a dot refer to the `model` section. Returns a `keras.Model`,
    compiled with the entry's default optimizer, loss and metrics unless `compile=False`.
    """
    config = get_config(name, overrides)
    return build_from_config(config, compile=compile)
