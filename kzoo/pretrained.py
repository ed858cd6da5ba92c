"""Pretrained BERT checkpoints: read one to fine-tune from (any format keras-hub loads), write kzoo's own.

A handle is a local directory or a hub URI (`hf://org/name`, `kaggle://owner/model/keras/variant`,
or a keras-hub preset name). keras-hub's preset loader reads both layouts a BERT checkpoint comes in:
its own (`config.json` with `registered_name`, `model.weights.h5`, `tokenizer.json` + vocabulary)
and the Hugging Face `transformers` one (`config.json` with `model_type`, `model.safetensors`,
`vocab.txt`, `tokenizer_config.json`), which it converts on load. kzoo asks that loader for the
backbone's configuration and the tokenizer rather than parsing either file itself.

Offline, keras-hub's Hugging Face download retries for about 25 seconds before failing with a
message about a missing `config.json`; `check_handle` first opens a TCP connection to the hub's
host with a 3-second timeout and fails with one line naming the handle instead.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from kzoo.errors import ConfigError
from kzoo.network import network_reachable

# The hosts keras-hub's downloads reach, by URI scheme (a bare preset name is a Kaggle handle).
_HUB_HOSTS = {"hf": "huggingface.co", "kaggle": "api.kaggle.com", "modelscope": "www.modelscope.cn"}
PRESET_DIR = "preset"  # a pretraining run's preset, inside its run directory
_CARD_FILES = ("README.md", "MODEL_CARD.md")  # where a checkpoint states its licence (Hub model cards)


def is_remote(handle: str) -> bool:
    """True when `handle` is not a local directory (a hub URI or a keras-hub preset name)."""
    return "://" in str(handle) or not Path(str(handle)).expanduser().exists()


def check_handle(handle: str, timeout: float = 3.0) -> str:
    """Return `handle` (a local directory made absolute) once it can be loaded; ConfigError in one line if not.

    A local directory must hold a `config.json` (keras-hub's or Hugging Face's); a remote handle's host
    must answer within `timeout` seconds (offline: a one-line error, not keras-hub's minute of retries).
    """
    handle = str(handle)
    if not is_remote(handle):
        path = Path(handle).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise ConfigError(f"preset {handle}: no config.json (expected a keras-hub preset directory, e.g. a "
                              f"bert_mlm run's {PRESET_DIR}/, a Hugging Face transformers checkpoint directory, "
                              f"or a hub handle such as hf://org/name)")
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


def _bert_loader(handle: str):
    """keras-hub's preset loader for `handle`, once it is known to hold a BertBackbone; ConfigError otherwise."""
    import keras_hub
    from keras_hub.src.utils.preset_utils import get_preset_loader

    where = check_handle(handle)
    if not is_remote(handle):
        try:
            raw = json.loads((Path(where) / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raw = {}
        if isinstance(raw, dict) and raw.get("kzoo_preset"):
            raise ConfigError(f"preset {handle} is a kzoo preset of {raw.get('entry')!r}, not a BERT checkpoint: start "
                              f"from it with --init-from {handle}; model.preset takes BERT checkpoints")
    try:
        loader = get_preset_loader(where)
        backbone_class = loader.check_backbone_class()
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        # keras-hub's messages for a foreign config.json dump the whole file: name the handle and what is valid.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"preset {handle}: keras-hub cannot read it as a model checkpoint ({first[:160]}); "
                          f"model.preset takes a BERT checkpoint (keras-hub preset or Hugging Face "
                          f"transformers format with model_type bert)") from None
    if not (isinstance(backbone_class, type) and issubclass(backbone_class, keras_hub.models.BertBackbone)):
        name = getattr(backbone_class, "__name__", str(backbone_class))
        raise ConfigError(f"preset {handle} holds a {name}, not a BertBackbone: model.preset takes BERT checkpoints "
                          f"(keras-hub BERT presets, transformers checkpoints with model_type bert)")
    return loader


def backbone_config(handle: str) -> dict:
    """The BertBackbone constructor arguments of the checkpoint `handle` (either layout), as keras-hub reads them."""
    loader = _bert_loader(handle)
    converter = getattr(loader, "converter", None)  # transformers-format checkpoints are converted on load
    if converter is not None:
        return dict(converter.convert_backbone_config(loader.config))
    return dict(loader.config["config"])


def tokenizer_settings(handle: str) -> dict:
    """`{"vocabulary", "lowercase", "strip_accents"}` of the checkpoint's WordPiece tokenizer.

    Hugging Face's BERT tokenizer strips accents whenever it lowercases unless `strip_accents` says
    otherwise; keras-hub's converter keeps only `lowercase`, so that rule is applied here.
    """
    import keras_hub

    loader = _bert_loader(handle)
    tokenizer = loader.load_tokenizer(keras_hub.tokenizers.BertTokenizer)
    lowercase = bool(tokenizer.lowercase)
    strip_accents = bool(getattr(tokenizer, "strip_accents", False))
    if getattr(loader, "converter", None) is not None:
        from keras_hub.src.utils.preset_utils import HF_TOKENIZER_CONFIG_FILE, check_file_exists, load_json

        hf = load_json(loader.preset, HF_TOKENIZER_CONFIG_FILE) if check_file_exists(
            loader.preset, HF_TOKENIZER_CONFIG_FILE) else {}
        strip_accents = lowercase if hf.get("strip_accents") is None else bool(hf["strip_accents"])
    return {"vocabulary": [str(t) for t in tokenizer.get_vocabulary()], "lowercase": lowercase,
            "strip_accents": strip_accents}


def load_backbone(handle: str, name: str = "backbone"):
    """keras-hub's `BertBackbone` with the checkpoint's weights (either layout; transformers needs `safetensors`)."""
    import keras_hub

    loader = _bert_loader(handle)
    if getattr(loader, "converter", None) is not None:
        try:
            import safetensors  # noqa: F401  keras-hub reads transformers weights through it
        except ImportError:
            raise ConfigError(f"preset {handle} is a transformers checkpoint: keras-hub reads its weights with the "
                              f"safetensors package (pip install safetensors)") from None
    return keras_hub.models.BertBackbone.from_preset(check_handle(handle), name=name)


def checkpoint_card(handle: str) -> dict:
    """What a model card says of the base checkpoint: handle, format, architecture, licence and source.

    The licence is read from the checkpoint's own model card (`license:` in its YAML front matter);
    the source is the handle, with the `_name_or_path` a transformers config records.
    """
    where = check_handle(handle)
    config = backbone_config(handle)
    info = {"handle": str(handle), "format": "keras-hub preset", "license": None, "source": str(handle),
            "architecture": (f"{config.get('num_layers')} layers, hidden {config.get('hidden_dim')}, vocabulary "
                             f"{config.get('vocabulary_size')}, max length {config.get('max_sequence_length')}")}
    if is_remote(handle):
        return info
    folder = Path(where)
    raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "model_type" in raw:
        info["format"] = "Hugging Face transformers"
        if raw.get("_name_or_path"):
            info["source"] = f"{handle} (its config.json names {raw['_name_or_path']})"
    for name in _CARD_FILES:
        if (folder / name).is_file():
            match = re.search(r"^license:\s*(\S+)", (folder / name).read_text(encoding="utf-8", errors="replace"),
                              re.MULTILINE)
            if match:
                info["license"] = match.group(1)
                break
    return info


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
