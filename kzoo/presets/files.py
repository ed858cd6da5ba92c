"""A kzoo preset directory's layout, and reading one back with every file checked.

    PRESET/
      config.json        {"kzoo_preset": 1, "entry", "task", "config": the run's resolved config, "fitted"}
      model.weights.h5   the weights (no code: loading them runs none)
      preprocessing/     vocabulary, WordPiece files, id maps (what the entry's Task reloads)
      metadata.json      versions, parameter count, date, data source and sizes, test metrics,
                         command, and every file's size and sha256
      README.md          the Hugging Face model card

keras-hub's own presets also hold a `config.json` (a serialized backbone with `registered_name`
and no `entry`); `read_preset` recognises them and says how to load them instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from kzoo.config import resolve
from kzoo.errors import ConfigError, PresetError
from kzoo.entry_config import entry_sections, get_entry

FORMAT = 1
CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE = "config.json", "model.weights.h5", "metadata.json", "README.md"
PREPROCESSING_DIR = "preprocessing"
REQUIRED = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, CARD_FILE)


@dataclasses.dataclass
class Preset:
    """A checked kzoo preset on local disk: `path`, `entry`, resolved `config`, `fitted` keys, `metadata`."""

    path: Path
    entry: str
    config: dict
    fitted: dict
    metadata: dict

    @property
    def weights_file(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def preprocessing_dir(self) -> Path:
        return self.path / PREPROCESSING_DIR


def sha256(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(directory: Path) -> dict:
    """{relative path: {"bytes", "sha256"}} of every file under `directory` but the metadata and the card."""
    return {p.relative_to(directory).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in (METADATA_FILE, CARD_FILE)}


def _read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PresetError(f"{what}: {path.name} is not readable JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise PresetError(f"{what}: {path.name} is not a JSON object")
    return value


def read_preset(path: str | os.PathLike, name: str | None = None) -> Preset:
    """Read and check the kzoo preset at `path` (`name`: the handle to name in messages).

    Every file must be there and match the size and sha256 `metadata.json` records; the config is
    resolved against the entry's schema (a tampered value is refused). PresetError (one line)
    otherwise, also for a keras-hub preset (config.json with a `registered_name`, no `entry`).
    """
    path = Path(path).expanduser()
    what = f"preset {name or str(path)!r}"
    if not path.is_dir():
        raise PresetError(f"{what} is not a directory")
    if not (path / CONFIG_FILE).is_file():
        raise PresetError(f"{what} lacks {CONFIG_FILE}: it is not a kzoo preset (tools/export.py RUN --preset DIR)")
    info = _read_json(path / CONFIG_FILE, what)
    if "entry" not in info:
        if "registered_name" in info:
            raise PresetError(f"{what} is a keras-hub preset ({info['registered_name']}), not a kzoo one: load it "
                              "with keras_hub (e.g. keras_hub.models.Backbone.from_preset(PATH))")
        raise PresetError(f"{what}: {CONFIG_FILE} names no kzoo entry: it is not a kzoo preset")
    missing = [f for f in REQUIRED if not (path / f).is_file()]
    if missing:
        raise PresetError(f"{what} is incomplete: {', '.join(missing)} missing")
    metadata = _read_json(path / METADATA_FILE, what)
    for relative, record in metadata.get("files", {}).items():
        file = path / relative
        if not file.is_file():
            raise PresetError(f"{what} is incomplete: {relative} missing")
        if file.stat().st_size != record["bytes"] or sha256(file) != record["sha256"]:
            raise PresetError(f"{what}: {relative} differs from the file the preset was written with (sha256)")
    try:
        entry = get_entry(str(info["entry"])).name
        config = resolve(info["config"], entry_sections(get_entry(entry)), entry)
    except (ConfigError, KeyError, TypeError, AttributeError) as err:
        raise PresetError(f"{what}: {CONFIG_FILE} is not a resolved config of a kzoo entry: {err}") from None
    if config.entry != entry:
        raise PresetError(f"{what}: {CONFIG_FILE} names entry {entry!r} but its config is {config.get('entry')!r}'s")
    return Preset(path, entry, config, info.get("fitted", {}), metadata)
