"""Presets: a finished run packaged to share — weights, config, preprocessing, metadata and a model card.

    from kzoo.presets import write_preset, load
    write_preset("runs/lstm-20261201-120000", "presets/lstm-imdb")
    model, preprocessor = load("presets/lstm-imdb")        # or hf://org/name, kaggle://owner/model/keras/variant

Modules: `files` (the layout, `read_preset`), `metadata`, `card` (the Hugging Face model card),
`writer` (`write_preset`), `run_card` (`RUN/README.md`, the `ModelCard` plug-in), `hub` (handles,
fetching), `loader` (`load`, `build`, `load_model`), `init_from` (the `--init-from` plug-in), `publish`.
"""

from kzoo.errors import PresetError
from kzoo.presets.files import Preset, read_preset
from kzoo.presets.loader import build, load, open_preset
from kzoo.presets.writer import write_preset

__all__ = ["Preset", "PresetError", "build", "load", "open_preset", "read_preset", "write_preset"]
