"""`RunConfig`: a resolved config, typed and frozen, read by attribute (`config.train.learning_rate`).

`resolve` checks every section against its schema once (types coerced, ranges and choices
checked, defaults filled) and returns a `RunConfig`. Code downstream reads attributes and never
re-coerces or restates a default: the value is already the declared type. A change is a new object
(`config.override({"train.epochs": 3})` checks the value like `--set` does; `config.replace(data_source=...)`
sets a top-level key), so a phase cannot alter what an earlier phase resolved behind its back.

Both objects are read-only `Mapping`s as well, so the plain dict form stays available at the edges
(`to_dict()` for YAML out, `config["train"]` where a name arrives as a string).
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping

from kzoo import schema
from kzoo.errors import ConfigError


# Top-level keys that are not sections (`data_source`: what a run trained on, written by the trainer;
# `tune`: kzoo-tune's search space, checked against the sections by `schema.check_tune_section`).
_OTHER_KEYS = ("entry", "family", "task", "description", "tiny", "data_source", "tune")


def _thawed(value: Any) -> Any:
    # Lists and mappings come out as copies: a caller may change what it was given, never the config.
    if isinstance(value, (ConfigSection, RunConfig)):
        return value
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


class Sections(dict):
    """The schema of each section of an entry's config (`{"train": {"epochs": Key(...), ...}, ...}`), and the
    entry's `Task`, which every config resolved against these sections carries (`RunConfig.task_object`):
    the task is looked up once, where the entry's name comes in, and handed along with the config."""

    def __init__(self, sections: Mapping, task: Any = None):
        super().__init__(sections)
        self.task = task

    def __reduce__(self):
        return Sections, (dict(self), self.task)


class _FrozenMapping(Mapping):
    """What both config objects share: a read-only mapping over `_values`, its keys also attributes."""

    __slots__ = ()

    def _dotted(self, key: str) -> str:
        return key

    def _missing(self, key: str) -> Any:
        raise AttributeError(key)

    def __getattr__(self, key: str) -> Any:
        values = object.__getattribute__(self, "_values")
        return _thawed(values[key]) if key in values else self._missing(key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(f"a resolved config is read-only; make a changed copy with "
                        f"config.override({{'{self._dotted(name)}': ...}})")

    def __setitem__(self, key: str, value: Any) -> None:
        self.__setattr__(key, value)

    def __getitem__(self, key: str) -> Any:
        return _thawed(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Mapping) and self.to_dict() == plain(other)

    __hash__ = None

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


class ConfigSection(_FrozenMapping):
    """One resolved section (`model`, `data`, `train`, ...): its keys as attributes, in schema order."""

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: Mapping[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", {key: copy.deepcopy(value) for key, value in values.items()})

    def _dotted(self, key: str) -> str:
        return f"{self._name}.{key}"

    def _missing(self, key: str) -> Any:
        raise AttributeError(f"config section {self._name!r} has no key {key!r} (keys: {', '.join(self._values)})")

    def __repr__(self) -> str:
        return f"ConfigSection({self._name!r}, {self._values!r})"

    def __reduce__(self):
        return ConfigSection, (self._name, self._values)

    def to_dict(self) -> dict:
        """The section as a plain dict (a deep copy)."""
        return copy.deepcopy(self._values)


class RunConfig(_FrozenMapping):
    """A resolved config: `entry`, `task`, `family`, ... and one `ConfigSection` per schema section.

    Made by `resolve` (never by hand): `sections` is the schema every section was checked
    against, kept so `override` checks a change as `--set` would.
    """

    __slots__ = ("_values", "_sections")

    def __init__(self, values: Mapping[str, Any], sections: Mapping):
        typed = {key: ConfigSection(key, value) if key in sections else copy.deepcopy(value)
                 for key, value in values.items()}
        object.__setattr__(self, "_values", typed)
        object.__setattr__(self, "_sections", sections)

    def _missing(self, key: str) -> Any:
        if key in ("entry", "task", "family", "description", "data_source", "tune"):
            return None  # a top-level key the config does not carry (a run's config.yaml written before it)
        raise AttributeError(f"a config has no {key!r} (it has: {', '.join(self._values)})")

    def __repr__(self) -> str:
        return f"RunConfig({self.to_dict()!r})"

    def __reduce__(self):
        return RunConfig, (self.to_dict(), self._sections)

    @property
    def task_object(self) -> Any:
        """The entry's `Task` (`kzoo.tasks.base.Task`), resolved with the config: its loss, data loader,
        signatures. `config.task` is its name, as `config.yaml` holds it."""
        task = getattr(self._sections, "task", None)
        if task is None:
            raise ConfigError(f"config of {self.entry!r} was resolved without its entry's sections: "
                              "resolve it with kzoo.get_config / kzoo.entry_config")
        return task

    @property
    def sections(self) -> Mapping:
        """The schema of each section (`{"train": {"epochs": Key(...), ...}, ...}`)."""
        return self._sections

    def to_dict(self) -> dict:
        """The config as a plain nested dict (what `config.yaml` holds)."""
        return plain(self._values)

    def override(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with dotted keys set (`{"train.epochs": 3}`), each checked like a `--set`; None values skipped.

        Raises ConfigError naming the key for an unknown key or a bad value.
        """
        return with_overrides(self, overrides, self._sections, self.entry or "config")

    def replace(self, **top_level: Any) -> RunConfig:
        """A copy with top-level keys that are not sections set (`data_source=...`, `task=...`)."""
        bad = [key for key in top_level if key in self._sections]
        if bad:
            raise ConfigError(f"replace() sets top-level keys; set section keys with override(): {bad}")
        return RunConfig({**self.to_dict(), **top_level}, self._sections)


def plain(values: Mapping) -> dict:
    """A config (a `RunConfig`, or a mapping that may hold sections) as a plain nested dict, copied."""
    return {key: value.to_dict() if isinstance(value, (ConfigSection, RunConfig)) else
            plain(value) if isinstance(value, Mapping) else copy.deepcopy(value) for key, value in values.items()}


def resolve(config: Mapping, sections: Mapping[str, schema.Section], entry: str) -> RunConfig:
    """Return `config` with every section checked against `sections` and completed, as a frozen `RunConfig`.

    Missing sections and keys take their defaults; other top-level keys (`entry`, `task`, ...)
    are copied. Raises ConfigError naming the key for an unknown key or a bad value.
    """
    config = plain(config)
    unknown = [k for k in config if k not in sections and k not in _OTHER_KEYS]
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {sorted(unknown)}; valid: {list(sections)}")
    resolved = {}
    for key, value in config.items():
        in_schema = key in sections
        resolved[key] = schema.check_section(sections[key], value, key, entry) if in_schema else copy.deepcopy(value)
    if "tune" in resolved:
        resolved["tune"] = schema.check_tune_section(resolved["tune"], sections, entry)
    for key, section in sections.items():
        if key not in resolved:
            resolved[key] = schema.check_section(section, None, key, entry)
    return RunConfig(resolved, sections)


def with_overrides(config: Mapping, overrides: Mapping[str, Any], sections: Mapping[str, schema.Section],
                   entry: str) -> RunConfig:
    """Return `config` (resolved) with dotted overrides set, resolved again; None values are skipped."""
    result = plain(config)
    for key, value in overrides.items():
        if value is None:
            continue
        if "." not in key:
            key = f"model.{key}"
        section, _, leaf = key.partition(".")
        if section not in sections:
            every_key = [f"{name}.{k}" for name, keys in sections.items() for k in keys]
            raise ConfigError(f"unknown config key {key!r} for entry {entry!r}: no section {section!r}; "
                              f"valid sections: {', '.join(sections)}.{schema.did_you_mean(key, every_key)}")
        if leaf not in sections[section]:
            raise schema.unknown_key_error(key, entry, [f"{section}.{k}" for k in sections[section]])
        result[section][leaf] = value
    return resolve(result, sections, entry)
