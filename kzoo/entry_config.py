"""The zoo's entries and their resolved configs: `get_entry`, `list_models`, `entry_sections`, `get_config`.

An entry is a builder decorated with `@register_model` (`kzoo.entries`); its hyperparameters live in
`zoo_configs/<entry>.yaml`. Its config's sections are declared once (`kzoo.schema`): `model` from
the builder's signature, `data` by the entry's Task (`Task.data_schema`), the rest shared.
`get_config` resolves defaults → the file → `tiny` → overrides, strictly. Building is `kzoo.zoo`.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import kzoo.models  # noqa: F401  (importing the families registers their entries)
from kzoo import config as config_lib
from kzoo import schema
from kzoo.entries import _ALIASES, _ENTRIES, Entry, register_model
from kzoo.data.schemas import TINY_MAX_EXAMPLES
from kzoo.errors import ConfigError, UnknownModelError
from kzoo.run_config import RunConfig, Sections
from kzoo.tasks import get_task

__all__ = [
    "Entry", "apply_overrides", "describe_config", "entry_sections", "get_config", "get_entry",
    "list_models", "load_entry_config", "load_run_config", "register_model",
]


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*", include_aliases: bool = False) -> list[str]:
    """Return the registered entry names matching an fnmatch `pattern`, naturally sorted."""
    names = list(_ENTRIES) + (list(_ALIASES) if include_aliases else [])
    return sorted(fnmatch.filter(names, pattern), key=_natural_key)


def get_entry(name: str) -> Entry:
    """Return the registry entry for `name` or an alias, in any case (`LSTM` is `lstm`); unknown
    names raise UnknownModelError suggesting the closest."""
    known = {n.lower(): n for n in [*_ENTRIES, *_ALIASES]}
    found = name if name in _ENTRIES or name in _ALIASES else known.get(name.lower())
    if found is None:
        hint = schema.did_you_mean(name, list(known.values()), cutoff=0.5)
        raise UnknownModelError(f"unknown model {name!r}.{hint} Available: {', '.join(list_models())}")
    return _ENTRIES[_ALIASES.get(found, found)]


def entry_sections(entry: Entry) -> Sections:
    """Return the schema of every section of `entry`'s config, keyed by section name, with the entry's Task
    (every config resolved against them carries it as `config.task_object`)."""
    task = get_task(entry.task)
    return Sections({
        "model": entry.model_section,
        "data": task.data_schema,
        "train": schema.TRAIN,
        "reference": schema.REFERENCE,
        "distill": schema.DISTILL,
        "prune": schema.PRUNE,
        "runtime": schema.RUNTIME,
        "export": task.export_schema,
    }, task)


def apply_overrides(config: Mapping, overrides: Mapping[str, Any] | Iterable[str], entry: str) -> dict:
    """Return a copy of `config` with dotted overrides applied and every section checked.

    `overrides` is a mapping {"model.units": 64} or a list of "model.units=64" strings. Keys
    without a section (`units=64`) refer to the `model` section. A value of None is ignored, so
    command-line defaults never override config defaults. Unknown keys and bad values raise
    ConfigError naming the key and the valid keys or values.
    """
    sections = entry_sections(get_entry(entry))
    resolved = config_lib.resolve(config, sections, entry)
    return config_lib.with_overrides(resolved, config_lib.as_overrides(overrides), sections, entry)


def load_entry_config(filename: str, entry: str, path: str | os.PathLike | None = None, tiny: bool = False) -> dict:
    """Load and resolve an entry's config: its default file `filename`, or `path` when given (a `tune:`-only
    `path` is a search space over the default file)."""
    default = config_lib.find_config_file(filename)
    return config_lib.load_entry_file(Path(path) if path else default, entry, entry_sections(get_entry(entry)), tiny,
                                      default=default if path else None)


def load_run_config(path: str | os.PathLike) -> dict:
    """Load a run directory's `config.yaml` and resolve it, filling keys and sections added since
    it was written (e.g. `runtime`). Raises ConfigError naming the file and the key."""
    raw = config_lib.load_yaml(path)
    entry = raw.get("entry")
    if not isinstance(entry, str):
        raise ConfigError(f"{path}: no 'entry' key; is it the config.yaml of a kzoo run?")
    try:
        return config_lib.resolve(raw, entry_sections(get_entry(entry)), entry)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def get_config(
    name: str,
    overrides: Mapping[str, Any] | list[str] | None = None,
    config_path: str | None = None,
    tiny: bool = False,
) -> RunConfig:
    """Return the resolved config of an entry: the schema's defaults, its YAML (or `config_path`),
    the file's `tiny` overrides when `tiny` (with `data.max_examples` at `TINY_MAX_EXAMPLES` unless they set
    it), then dotted `overrides`. Raises ConfigError naming the key."""
    entry = get_entry(name)
    config = load_entry_config(entry.config_file, entry.name, config_path, tiny=tiny)
    config = config.replace(task=entry.task, family=entry.family)
    if tiny and config.data.max_examples == 0:  # the file's tiny section set no cap of its own
        # Every smoke run reads a slice of a real dataset: seconds however large the dataset is.
        config = config.override({"data.max_examples": TINY_MAX_EXAMPLES})
    if overrides:
        config = config.override(config_lib.as_overrides(overrides))
    return config


def describe_config(name: str, overrides: Mapping[str, Any] | list[str] | None = None, config_path: str | None = None,
                    tiny: bool = False) -> str:
    """Return `get_config(...)`'s config as commented YAML: each key's doc and valid values at the end
    of its line (`kzoo.config.commented_yaml`), preceded by a header naming the entry."""
    entry = get_entry(name)
    config = get_config(name, overrides, config_path, tiny)
    return (f"# {entry.name}: resolved config (kzoo-train --describe); loadable with --config\n"
            + config_lib.commented_yaml(config, entry_sections(entry)))
