"""The search space of a study: the entry's `tune:` section (checked by `kzoo.schema.check_tune_section`)."""

from __future__ import annotations

from typing import Mapping

from kzoo.errors import ConfigError


def search_space(config: Mapping) -> dict:
    """The resolved config's `tune` section, `{dotted key: {kind: spec}}`; ConfigError when it has none."""
    space = config.tune or {}
    if not space:
        raise ConfigError(f"{config.entry} has no tune: section to search; add one to its YAML "
                          "(e.g. tune: {train.learning_rate: {log_float: [1e-4, 1e-2]}}) and pass it with --config")
    return dict(space)


def suggest(trial, space: Mapping[str, Mapping]) -> dict:
    """The trial's values for every key of `space`, as dotted overrides (`{"train.learning_rate": 0.003}`)."""
    values = {}
    for key, spec in space.items():
        (kind, given), = spec.items()
        if kind == "choice":
            values[key] = trial.suggest_categorical(key, list(given))
        elif kind == "int":
            values[key] = trial.suggest_int(key, int(given[0]), int(given[1]))
        else:
            values[key] = trial.suggest_float(key, float(given[0]), float(given[1]), log=kind == "log_float")
    return values


def describe_space(space: Mapping[str, Mapping]) -> str:
    """`train.learning_rate log_float [0.0005, 0.01]; model.embedding_size choice [16, 32]` on one line."""
    return "; ".join(f"{key} {kind} {list(given)}" for key, spec in space.items() for kind, given in spec.items())


def config_values(config: Mapping, space: Mapping[str, Mapping]) -> dict:
    """The config's own values of the space's keys that lie inside the space (its first trial: the
    search starts from the hand-tuned values, and the table shows whether it beat them)."""
    values = {}
    for key, spec in space.items():
        section, _, leaf = key.partition(".")
        value = config[section][leaf]
        (kind, given), = spec.items()
        if value in given if kind == "choice" else value is not None and given[0] <= value <= given[1]:
            values[key] = value
    return values
