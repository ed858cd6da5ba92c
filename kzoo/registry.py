"""The model registry: `register_model`, `list_models`, `get_entry`, `get_config` (timm's pattern).

An entry is a small builder function decorated with `@register_model`; its hyperparameters live in
`zoo_configs/<entry>.yaml`. Building and compiling an entry is `kzoo.zoo.build` (it needs the
entry's Task, which sits above the models).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from typing import Any, Callable, Mapping

from kzoo import config as config_lib


class UnknownModelError(KeyError):
    """The requested entry is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered model: its builder, config file, task and aliases."""

    name: str
    builder: Callable[..., Any]
    config_file: str
    task: str
    family: str
    aliases: tuple[str, ...] = ()


_ENTRIES: dict[str, Entry] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    name: str | None = None,
    *,
    task: str,
    config_file: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable:
    """Decorator that registers a builder `fn(**model_config) -> keras.Model` under `name`.

    Args:
      name: entry name (defaults to the function's name).
      task: one of `kzoo.tasks.TASKS`; chooses loss, metrics and data protocol.
      config_file: YAML file in `zoo_configs/` (defaults to `<name>.yaml`).
      aliases: other names that resolve to this entry.
    Returns the builder unchanged.
    """

    def decorator(fn: Callable) -> Callable:
        entry_name = name or fn.__name__
        if entry_name in _ENTRIES or entry_name in _ALIASES:
            raise ValueError(f"model {entry_name!r} is already registered")
        family = fn.__module__.rsplit(".", 1)[-1]
        _ENTRIES[entry_name] = Entry(
            entry_name, fn, config_file or f"{entry_name}.yaml", task, family, tuple(aliases)
        )
        for alias in aliases:
            _ALIASES[alias] = entry_name
        return fn

    return decorator


def _ensure_loaded() -> None:
    # Importing kzoo.models imports every family module, which registers its entries.
    import kzoo.models  # noqa: F401


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*", include_aliases: bool = False) -> list[str]:
    """Return the registered entry names matching an fnmatch `pattern`, naturally sorted."""
    _ensure_loaded()
    names = list(_ENTRIES) + (list(_ALIASES) if include_aliases else [])
    return sorted(fnmatch.filter(names, pattern), key=_natural_key)


def get_entry(name: str) -> Entry:
    """Return the registry entry for `name` (or an alias); unknown names raise UnknownModelError."""
    _ensure_loaded()
    if name in _ALIASES:
        name = _ALIASES[name]
    if name not in _ENTRIES:
        known = list(_ENTRIES) + list(_ALIASES)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Available: {', '.join(list_models())}"
        )
    return _ENTRIES[name]


def get_config(
    name: str,
    overrides: Mapping[str, Any] | list[str] | None = None,
    config_path: str | None = None,
) -> dict:
    """Return the resolved config of an entry: its YAML (or `config_path`) plus dotted overrides."""
    entry = get_entry(name)
    config = config_lib.load_entry_config(entry.config_file, entry.name, config_path)
    config["task"] = entry.task
    config["family"] = entry.family
    if overrides:
        config = config_lib.apply_overrides(config, overrides, entry.name)
    return config
