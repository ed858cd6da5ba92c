"""`prune.from_run`: start a run from a finished run's weights and preprocessing (pruning fine-tunes them)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from kzoo.errors import ConfigError
from kzoo.plugin import RunPlugin
from kzoo.run_dir import RunDir


def source_run(config: Mapping) -> RunDir | None:
    """The run a pruned model starts from (`prune.from_run`), or None to train from scratch."""
    path = config.get("prune", {}).get("from_run") or ""
    return RunDir(Path(path).expanduser()) if path else None


class PruneFromRun(RunPlugin):
    """Trainer plug-in: with `prune.from_run` set, the new run starts from that run's weights and ids."""

    def check(self, config: Mapping) -> None:
        """The source must be a finished run of the same entry."""
        source = source_run(config)
        if source is None:
            return
        RunDir.open(source.path, "prune.from_run:")
        entry = source.config().get("entry")
        if entry != config.entry:
            raise ConfigError(f"prune.from_run: {str(source)!r} is a {entry!r} run, not {config.entry!r}")

    def preprocessor(self, config: Mapping):
        """The source run's preprocessor: its weights only mean something with its vocabulary / id maps."""
        source = source_run(config)
        if source is None or not source.preprocessing_dir.is_dir():
            return None
        return source.preprocessor()

    def init_weights(self, net, config: Mapping) -> None:
        """Copy the source run's trained weights into `net`."""
        source = source_run(config)
        if source is None:
            return
        trained = source.load_model()
        try:
            net.set_weights(trained.get_weights())
        except ValueError as err:
            raise ConfigError(f"prune.from_run: the weights of {source} do not fit this model: "
                              f"{str(err).splitlines()[0]}") from None
