"""Registering zoo entries: `register_model` (timm's pattern) and the table it fills.

An entry is a builder function decorated with `@register_model`; the signature of its builder
declares the entry's `model` section (`kzoo.schema.signature_section`), and its values live in
`zoo_configs/<entry>.yaml`. Model modules import this module only; looking entries up
(`get_entry`, `list_models`, after every family registered) and resolving their configs is
`kzoo.entry_config`'s job.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from kzoo import schema

# The Keras model's name: set by the entry function (`cnn_small` passes its own), not a hyperparameter.
MODEL_NAME_PARAMETER = "name"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered model: its builder, config file, task, aliases and `model` section.

    `builder` is what `kzoo.build_from_config` calls; `model_builder` the function whose signature
    declares `model_section` (the same function unless `register_model(builder=...)` named another).
    """

    name: str
    builder: Callable[..., Any]
    config_file: str
    task: str
    family: str
    aliases: tuple[str, ...] = ()
    model_builder: Callable[..., Any] | None = dataclasses.field(default=None, compare=False, repr=False)
    model_section: schema.Section = dataclasses.field(default_factory=dict, compare=False, repr=False)


_ENTRIES: dict[str, Entry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    name: str | None = None,
    *,
    task: str,
    builder: Callable | None = None,
    config_file: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable:
    """Decorator that registers a builder `fn(**model_config) -> keras.Model` under `name`.

    Args:
      name: entry name (defaults to the function's name).
      task: one of `kzoo.tasks.TASKS`; chooses loss, metrics, data protocol and `data` section.
      builder: the function whose signature declares the `model` section, when the decorated one
        only forwards `**kwargs` to it (default: the decorated function itself). Its `name`
        parameter, the Keras model's name, is not a config key.
      config_file: YAML file in `zoo_configs/` (defaults to `<name>.yaml`).
      aliases: other names that resolve to this entry.
    Returns the decorated function unchanged. Raises TypeError when the signature cannot be a
    schema (e.g. only `**kwargs`, or an unsupported annotation), naming the parameter.
    """

    def decorator(fn: Callable) -> Callable:
        entry_name = name or fn.__name__
        if entry_name in _ENTRIES or entry_name in _ALIASES:
            raise ValueError(f"model {entry_name!r} is already registered")
        try:
            section = schema.signature_section(builder or fn, skip=(MODEL_NAME_PARAMETER,))
        except TypeError as err:
            raise TypeError(f"register_model({entry_name!r}): {err}; pass builder= the function it calls") from None
        family = fn.__module__.rsplit(".", 1)[-1]
        _ENTRIES[entry_name] = Entry(
            entry_name, fn, config_file or f"{entry_name}.yaml", task, family, tuple(aliases), builder or fn, section
        )
        for alias in aliases:
            _ALIASES[alias] = entry_name
        return fn

    return decorator
