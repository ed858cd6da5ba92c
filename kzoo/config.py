"""Zoo configs: load `zoo_configs/<entry>.yaml`, resolve it through the schema, apply strict dotted overrides.

A resolved config is a frozen `kzoo.run_config.RunConfig` (read `config.train.epochs`; resolving lives
there too) with the sections `model` (builder hyperparameters), `data`
(dataset and preprocessing), `train` (optimizer, schedule, batch size, epochs, early stopping),
`reference` (the published metric the entry is measured against), the compression sections
`distill` and `prune` (see `kzoo.compression`) and `runtime` (strategy, precision, seed). Every
key is declared once with its type, default and range (`kzoo.schema`; `model` from the builder's
signature, `data` from the entry's Task, declared per loader in `kzoo.data.schemas`). A resolved
config has every section and every key: defaults, then the entry's YAML, then its `tiny` overrides
(on request), then `--set`s. An optional `tune` section is `kzoo-tune`'s search space (`kzoo.tuning`).
This module is the mechanics, given the sections; `kzoo.entry_config` knows which sections an entry has
(its builder's signature, its Task's data section) and resolves entries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from kzoo import schema
from kzoo.errors import ConfigError
from kzoo.run_config import RunConfig, plain, resolve, with_overrides

SECTIONS = ("model", "data", "train", "reference", "distill", "prune", "runtime", "export")
_FILE_SECTIONS = ("model", "data", "train")  # the rest may be left out of an entry's file

__all__ = [
    "ConfigError", "SECTIONS", "as_overrides", "commented_yaml", "config_dirs", "dump_yaml", "find_config_file",
    "load_entry_file", "load_yaml", "parse_override", "resolve", "with_overrides",
]


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
    if path.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a directory; give a YAML file (e.g. zoo_configs/mlp.yaml)")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line} is not valid UTF-8 text; save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
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


def load_entry_file(file: str | os.PathLike, entry: str, sections: Mapping[str, schema.Section],
                    tiny: bool = False, default: str | os.PathLike | None = None) -> dict:
    """Load and resolve an entry's config file against `sections` (see `kzoo.entry_config.entry_sections`).

    The file's `tiny` overrides (a seconds-long smoke run) are always checked and applied when
    `tiny` is true. A file holding nothing but a `tune:` section (README's snippet, on its own) is
    that search space over `default`, the entry's own file. Raises ConfigError naming the file and the key.
    """
    file = Path(file)
    raw = load_yaml(file)
    if default is not None and set(raw) == {"tune"}:
        raw = {**load_yaml(default), "tune": raw["tune"]}
    missing = [s for s in _FILE_SECTIONS if s not in raw]
    if missing:
        raise ConfigError(f"{file}: missing section(s) {missing}; a zoo config has {list(SECTIONS)}")
    try:
        config = resolve({**raw, "entry": entry}, sections, entry)
        smoke = raw.get("tiny") or {}
        if not isinstance(smoke, Mapping):
            raise ConfigError(f"tiny must be a mapping of dotted keys to values, got {smoke!r}")
        with_tiny = with_overrides(config, smoke, sections, entry)
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from None
    return with_tiny if tiny else config


def as_overrides(overrides: Mapping[str, Any] | Iterable[str]) -> Mapping[str, Any]:
    """`{"model.units": 64}` from a mapping or from `["model.units=64", ...]`."""
    return overrides if isinstance(overrides, Mapping) else dict(parse_override(o) for o in overrides)


def dump_yaml(config: Mapping, path: str | os.PathLike) -> None:
    """Write a resolved config as YAML (used for `config.yaml` in run directories)."""
    Path(path).write_text(yaml.safe_dump(plain(config), sort_keys=False), encoding="utf-8")


def commented_yaml(config: Mapping, sections: Mapping[str, schema.Section]) -> str:
    """`config` as YAML (loadable as a `--config` file) with each section key's doc and valid values
    (`kzoo.schema.describe_key`) as a comment at the end of its line."""
    config, lines = plain(config), []
    head = [name for name in config if name not in sections and not isinstance(config[name], Mapping)]
    for name in head + [name for name in config if name not in head]:  # entry, task, ... first
        value = config[name]
        if name not in sections:
            lines.append(yaml.safe_dump({name: value}, sort_keys=False, width=100, allow_unicode=True).rstrip("\n"))
            continue
        if not value:  # an empty section (e.g. `export` of an entry without export options) stays a mapping
            lines.append(f"{name}: {{}}")
            continue
        rows = [(f"  {key}: {_flow(item)}", schema.describe_key(sections[name][key])) for key, item in value.items()]
        column = max((len(row) for row, _ in rows), default=0)
        lines += [f"{name}:"] + [f"{row.ljust(column)}  # {comment}" if comment else row for row, comment in rows]
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    # A one-item flow list, unbracketed: the value on one line, quoted where YAML needs it, with no
    # "..." document end (which a bare scalar's dump has).
    return yaml.safe_dump([value], default_flow_style=True, width=float("inf"), allow_unicode=True).strip()[1:-1]
