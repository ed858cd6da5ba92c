"""`train.init_from` (`--init-from PRESET`): fine-tune a preset on new data from its weights and preprocessing."""

from __future__ import annotations

from typing import Mapping

from kzoo.errors import ConfigError, PresetError
from kzoo.plugin import RunPlugin
from kzoo.presets.files import Preset
from kzoo.presets.loader import open_preset


def preset_handle(config: Mapping) -> str:
    """The preset a run starts from (`train.init_from`), or "" to train from scratch."""
    return str(config.train.init_from or "")


def differences(preset: Preset, config: Mapping) -> list[str]:
    """`section.key=value` settings of the preset that `config` does not share (empty: compatible).

    The `model` keys the preset's preprocessor sets (vocabulary size, user / item counts) are the
    preset's in the new run, so only the others count; the `data` keys it was fitted with count.
    """
    fixed_by_data = set(preset.fitted.get("model", []))
    found = [f"model.{k}={v!r}" for k, v in preset.config.model.items()
             if k not in fixed_by_data and config.model.get(k) != v]
    found += [f"data.{k}={preset.config.data[k]!r}" for k in preset.fitted.get("data", [])
              if config.data.get(k) != preset.config.data.get(k)]
    return found


class InitFromPreset(RunPlugin):
    """Trainer plug-in: with `train.init_from` set, the run starts from that preset's weights, vocabulary / id maps."""

    def __init__(self):
        self._preset: Preset | None = None

    def _open(self, config: Mapping) -> Preset | None:
        handle = preset_handle(config)
        if not handle:
            return None
        if self._preset is None:
            self._preset = open_preset(handle)
        return self._preset

    def check(self, config: Mapping) -> None:
        """The preset must be one of this entry with the same architecture and preprocessing settings."""
        handle = preset_handle(config)
        if handle and config.get("prune", {}).get("from_run"):
            raise ConfigError("--init-from and prune.from_run both name the weights to start from: pass one")
        preset = self._open(config)
        if preset is None:
            return
        if preset.entry != config.entry:
            raise ConfigError(f"--init-from: {handle!r} is a preset of {preset.entry!r}, not of {config.entry!r}")
        found = differences(preset, config)
        if found:
            raise ConfigError(f"--init-from: {handle!r} was trained with {', '.join(found)}, which this run does not "
                              "share: pass the same settings (--set KEY=VALUE; a preset of a --tiny run needs --tiny)")

    def preprocessor(self, config: Mapping):
        """The preset's preprocessor (its weights mean something only with its vocabulary / id maps), checked."""
        preset = self._open(config)
        if preset is None:
            return None
        fitted = preset.config.task_object.load_preprocessor(preset.preprocessing_dir)
        overrides = getattr(fitted, "model_overrides", None)
        sizes = overrides() if callable(overrides) else {}
        wrong = [f"model.{k}: {v} from its preprocessing, {preset.config.model.get(k)} in its config"
                 for k, v in sizes.items() if preset.config.model.get(k) != v]
        if wrong:
            raise PresetError(f"--init-from: the vocabulary / id maps of {preset_handle(config)!r} do not match its "
                              f"weights ({'; '.join(wrong)})")
        return fitted

    def init_weights(self, net, config: Mapping) -> None:
        """Load the preset's weights into the freshly built `net`."""
        preset = self._open(config)
        if preset is None:
            return
        try:
            net.load_weights(preset.weights_file)
        except (ValueError, OSError, KeyError) as err:
            raise ConfigError(f"--init-from: the weights of {preset_handle(config)!r} do not fit this model: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
