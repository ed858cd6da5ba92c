"""keras-hub BERT presets: write one from a pretraining run, and read one to fine-tune from.

A preset is keras-hub's own directory layout (`config.json` + `model.weights.h5` for the
backbone, `tokenizer.json` + `assets/tokenizer/vocabulary.txt` for the WordPiece tokenizer),
written with keras-hub's `save_to_preset`, so `keras_hub.models.BertBackbone.from_preset(dir)`
and `keras_hub.tokenizers.BertTokenizer.from_preset(dir)` load it without kzoo. A handle is a
local directory or a hub URI (`hf://org/name`, `kaggle://owner/model/keras/variant`, or a
keras-hub preset name), which keras-hub downloads itself.

Offline, keras-hub's Hugging Face download retries for about 25 seconds before failing with a
message about a missing `config.json`; `check_handle` first opens a TCP connection to the hub's
host with a 3-second timeout and fails with one line naming the handle instead.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from kzoo.errors import ConfigError

# The hosts keras-hub's downloads reach, by URI scheme (a bare preset name is a Kaggle handle).
_HUB_HOSTS = {"hf": "huggingface.co", "kaggle": "api.kaggle.com", "modelscope": "www.modelscope.cn"}
PRESET_DIR = "preset"  # a pretraining run's preset, inside its run directory


def is_remote(handle: str) -> bool:
    """True when `handle` is not a local directory (a hub URI or a keras-hub preset name)."""
    return "://" in str(handle) or not Path(str(handle)).expanduser().exists()


def check_handle(handle: str, timeout: float = 3.0) -> str:
    """Return `handle` (a local directory made absolute) once it can be loaded; ConfigError in one line if not.

    A local directory must hold keras-hub's `config.json`; a remote handle's host must answer within
    `timeout` seconds (offline: a one-line error, not keras-hub's minute of retries).
    """
    from kzoo.data.tfds_source import network_reachable

    handle = str(handle)
    if not is_remote(handle):
        path = Path(handle).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise ConfigError(f"preset {handle}: no config.json (expected a keras-hub preset directory, e.g. a "
                              f"bert_mlm run's {PRESET_DIR}/, or a hub handle such as hf://org/name)")
        return str(path)
    scheme = handle.split("://", 1)[0] if "://" in handle else "kaggle"
    if scheme not in _HUB_HOSTS and "://" in handle:
        raise ConfigError(f"preset {handle}: unknown scheme {scheme}:// (valid: a local directory, "
                          f"{', '.join(s + '://' for s in _HUB_HOSTS)}, or a keras-hub preset name)")
    if "://" not in handle and "/" in handle:
        raise ConfigError(f"preset {handle}: no such directory (a local preset directory, or a hub handle such as "
                          f"hf://org/name)")
    host = _HUB_HOSTS[scheme]
    if not network_reachable(host, 443, timeout):
        raise ConfigError(f"preset {handle}: {host} cannot be reached (offline?); download the preset where there "
                          f"is a network and pass its local directory")
    return handle


def backbone_config(handle: str) -> dict:
    """The backbone's constructor arguments recorded in the preset's `config.json`."""
    from keras_hub.src.utils.preset_utils import CONFIG_FILE, load_json

    return dict(load_json(check_handle(handle), CONFIG_FILE)["config"])


def tokenizer_settings(handle: str) -> dict:
    """`{"vocabulary", "lowercase", "strip_accents"}` of the preset's WordPiece tokenizer."""
    import keras_hub

    tokenizer = keras_hub.tokenizers.BertTokenizer.from_preset(check_handle(handle))
    return {"vocabulary": [str(t) for t in tokenizer.get_vocabulary()], "lowercase": bool(tokenizer.lowercase),
            "strip_accents": bool(tokenizer.strip_accents)}


def write_bert_preset(directory: Path, backbone, vocabulary, lowercase: bool = True,
                      strip_accents: bool = True) -> Path:
    """Write `backbone` and a BertTokenizer of `vocabulary` as a keras-hub preset in `directory`; return it.

    Written into a temporary sibling and renamed: a half-written preset never replaces a whole one.
    """
    import keras_hub

    directory = Path(directory)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=list(vocabulary), lowercase=lowercase,
                                               strip_accents=strip_accents)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        backbone.save_to_preset(str(staging))
        tokenizer.save_to_preset(str(staging))
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def describe(directory: Path) -> str:
    """`2 layers, hidden 128, vocabulary 20000, max length 512` for a preset directory."""
    config = json.loads((Path(directory) / "config.json").read_text())["config"]
    return (f"{config.get('num_layers')} layers, hidden {config.get('hidden_dim')}, vocabulary "
            f"{config.get('vocabulary_size')}, max length {config.get('max_sequence_length')}")
