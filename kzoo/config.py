"""Zoo configs: load `zoo_configs/<entry>.yaml`, apply strict dotted overrides, validate values.

A config is a plain nested dict with the sections `model` (builder hyperparameters), `data`
(dataset and preprocessing), `train` (optimizer, schedule, batch size, epochs, early stopping),
`reference` (the published metric the entry is measured against), and the compression sections
`distill` and `prune` that every entry has with the defaults below (see `kzoo.compression`).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

SECTIONS = ("model", "data", "train", "reference", "distill", "prune")

# Sections an entry's YAML may leave out; these defaults fill them (and any key they omit).
OPTIONAL_SECTIONS = {
    # distill.teacher: the teacher's run directory, set by `tools/distill.py` ("" = not distilled).
    "distill": {"teacher": "", "temperature": 2.0, "alpha": 0.1},
    # Off while target_sparsity is 0; end_step 0 = three quarters of the run (kzoo.compression.prune);
    # from_run: a finished run of the entry whose weights (and preprocessing) to start from ("" = from scratch);
    # exclude: weight-path patterns (fnmatch, e.g. "logits/*") left dense.
    "prune": {"target_sparsity": 0.0, "initial_sparsity": 0.0, "begin_step": 0, "end_step": 0, "frequency": 100,
              "from_run": "", "exclude": []},
}
# Keys every entry's `train` section has unless its file sets them.
TRAIN_DEFAULTS = {
    # After early stopping on validation picks the epoch count, train a fresh model that long on
    # train + validation and score that one (kzoo.training.refit).
    "refit": False,
    # Read by kzoo.tasks.make_optimizer: decoupled weight decay when `optimizer: adamw`; gradient
    # clipping by global norm when > 0. Defaults here so `--set` reaches them on every entry.
    "weight_decay": 0.01,
    "clipnorm": 0.0,
    # Read by kzoo.tasks.compile_model: XLA on one replica, and how many steps one compiled call runs.
    "jit_compile": False,
    "steps_per_execution": 1,
}
_VALIDATED = ("model", "data", "train", "distill", "prune")


class ConfigError(ValueError):
    """A config file, override key or value is invalid; the message names it."""


def config_dirs() -> list[Path]:
    """Return the folders searched for `<entry>.yaml`, in order of precedence.

    `KZOO_CONFIG_DIR` first, then the repository's `zoo_configs/` (editable installs), then the
    copy installed under `<prefix>/share/kzoo/zoo_configs` (regular installs).
    """
    dirs = []
    if os.environ.get("KZOO_CONFIG_DIR"):
        dirs.append(Path(os.environ["KZOO_CONFIG_DIR"]))
    dirs.append(Path(__file__).resolve().parent.parent / "zoo_configs")
    dirs.append(Path(sys.prefix) / "share" / "kzoo" / "zoo_configs")
    return dirs


def find_config_file(filename: str) -> Path:
    """Return the path of a config file by name; raise ConfigError listing the folders searched."""
    for folder in config_dirs():
        path = folder / filename
        if path.is_file():
            return path
    searched = ", ".join(str(d) for d in config_dirs())
    raise ConfigError(f"config file {filename!r} not found; searched: {searched}")


def load_yaml(path: str | os.PathLike) -> dict:
    """Read a YAML mapping with `yaml.safe_load`; errors name the file (and line when known)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """Split `section.key=value` into the dotted key and a YAML-typed value (`64` -> int)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like KEY=VALUE, e.g. model.units=64")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """Return {"a.b.c": value} for every leaf of a nested mapping."""
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def apply_overrides(config: dict, overrides: Mapping[str, Any] | Iterable[str], entry: str) -> dict:
    """Return a copy of `config` with dotted overrides applied; unknown keys raise ConfigError.

    `overrides` is a mapping {"model.units": 64} or a list of "model.units=64" strings. Keys
    without a section (`units=64`) refer to the `model` section. A value of None is ignored, so
    command-line defaults never override config defaults.
    """
    if not isinstance(overrides, Mapping):
        overrides = dict(parse_override(o) for o in overrides)
    result = copy.deepcopy(config)
    valid = flatten({k: result.get(k, {}) for k in SECTIONS})
    for key, value in overrides.items():
        if value is None:
            continue
        if "." not in key:
            key = f"model.{key}"
        if key not in valid:
            raise ConfigError(
                f"unknown config key {key!r} for entry {entry!r}; valid keys: {', '.join(sorted(valid))}"
            )
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = _coerce(key, value, node[leaf], entry)
    validate(result, entry)
    return result


def _coerce(key: str, value: Any, default: Any, entry: str) -> Any:
    """Check `value` has the type of the default (int is accepted for float) and return it."""
    if default is None or value is None:
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" (no dot) as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{entry}: {key} must be a number, got {value!r}") from None
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{entry}: {key} must be true or false, got {value!r}")
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{entry}: {key} must be an integer, got {value!r}")
    if expected in (list, tuple) and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{entry}: {key} must be a list, got {value!r}")
    if expected is str and not isinstance(value, str):
        raise ConfigError(f"{entry}: {key} must be a string, got {value!r}")
    if expected in (int, float) and not isinstance(value, (int, float)):
        raise ConfigError(f"{entry}: {key} must be a number, got {value!r}")
    return value


# Range rules keyed by the last part of a dotted key. Patterns are matched with re.fullmatch.
_FRACTION = re.compile(r".*(dropout|sparsity|label_smoothing|val_fraction|validation_fraction).*")
_UNIT_INTERVAL = re.compile(r"alpha")
_POSITIVE = re.compile(
    r".*(units|_dim|dim|heads|size|epochs|length|classes|vocab.*|learning_rate|temperature|steps_per_execution|"
    r"frequency|num_users|num_items|patience_positive)"
)


def validate(config: Mapping, entry: str) -> None:
    """Raise ConfigError naming the key when a value is out of range.

    Rules: fractions (`*dropout*`, `*sparsity*`, `val_fraction`) lie in [0, 1); `alpha` in [0, 1];
    sizes, units, dims, heads, lengths, epochs, learning rates, `temperature` and `frequency` are > 0;
    every other number is
    >= 0; lists of numbers follow the rule of their key element by element.
    """
    for key, value in flatten({k: config.get(k, {}) for k in _VALIDATED}).items():
        leaf = key.rsplit(".", 1)[-1]
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if _FRACTION.fullmatch(leaf):
                if not 0 <= item < 1:
                    raise ConfigError(f"{entry}: {key} must be in [0, 1), got {item!r}")
            elif _UNIT_INTERVAL.fullmatch(leaf):
                if not 0 <= item <= 1:
                    raise ConfigError(f"{entry}: {key} must be in [0, 1], got {item!r}")
            elif _POSITIVE.fullmatch(leaf) and not leaf.startswith(("min_", "initial_")):
                if item <= 0:
                    raise ConfigError(f"{entry}: {key} must be > 0, got {item!r}")
            elif item < 0 and leaf not in ("seed",):
                raise ConfigError(f"{entry}: {key} must be >= 0, got {item!r}")


def load_entry_config(filename: str, entry: str, path: str | os.PathLike | None = None) -> dict:
    """Load an entry's config (its default file, or `path` when given) and check its sections."""
    file = Path(path) if path else find_config_file(filename)
    config = load_yaml(file)
    missing = [s for s in ("model", "data", "train") if s not in config]
    if missing:
        raise ConfigError(f"{file}: missing section(s) {missing}; a zoo config has {list(SECTIONS)}")
    unknown = set(config) - set(SECTIONS) - {"entry", "family", "task", "description", "tiny"}
    if unknown:
        raise ConfigError(f"{file}: unknown top-level key(s) {sorted(unknown)}; valid: {list(SECTIONS)}")
    config.setdefault("reference", {})
    for section, defaults in OPTIONAL_SECTIONS.items():
        config[section] = {**defaults, **(config.get(section) or {})}
    config["train"] = {**TRAIN_DEFAULTS, **config["train"]}
    config["entry"] = entry
    validate(config, entry)
    return config


def dump_yaml(config: Mapping, path: str | os.PathLike) -> None:
    """Write a resolved config as YAML (used for `config.yaml` in run directories)."""
    Path(path).write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
