"""`RunPlugin`: the points where a training feature joins `kzoo.training.train()` without editing it.

Pruning (`kzoo.compression.prune.Pruning`), starting from a trained run (`PruneFromRun`),
distillation (`kzoo.compression.teacher.Distillation`) and refit (`kzoo.training.refit.Refit`) are
plug-ins. The trainer calls every hook of every plug-in at its phase, in plug-in order; a hook a
plug-in does not override does nothing. This module sits below both `kzoo.compression` and
`kzoo.training`, so neither has to import the other's internals.

Hooks, in the order the phases call them:

| hook                                  | phase      | returns                                         |
|---------------------------------------|------------|-------------------------------------------------|
| `check(config)`                       | resolve    | None; raises ConfigError/RunDirError on bad use |
| `preprocessor(config)`                | data       | a fitted preprocessor to reuse, or None         |
| `on_data(bundle, config)`             | data       | None (may add `bundle.callbacks`)               |
| `init_weights(net, config)`           | build      | None (loads weights into the fresh model)       |
| `wrap_model(net, config)`             | build      | the model `fit` trains instead of `net`, or None|
| `callbacks(net, config, total_steps)` | fit        | extra Keras callbacks                           |
| `after_fit(training)`                 | refit      | None (may replace `training.net`)               |
| `metrics(net, config, total_steps)`   | record     | entries for `metrics.json`                      |
| `after_export(metrics, export_dir)`   | export     | None (may add to `metrics`)                     |
| `after_run(metrics)`                  | export     | None; last, with or without an export           |

`training` is the trainer's state (`kzoo.training.runner.Training`): its config, data, strategy,
run directory, and the methods `load_data(config)` and `build_for_fit(config, steps_per_epoch)`.
"""

from __future__ import annotations

from typing import Any, Mapping


class RunPlugin:
    """Base class of the trainer's plug-ins; every hook is a no-op here (see the module docstring)."""

    def check(self, config: Mapping) -> None:
        """Refuse a config this plug-in cannot honour, before anything is written."""

    def preprocessor(self, config: Mapping) -> Any:
        """A fitted preprocessor the run must reuse (e.g. a teacher's vocabulary), or None."""
        return None

    def on_data(self, bundle, config: Mapping) -> None:
        """See the run's `DataBundle` once it is loaded (e.g. add callbacks that need its splits)."""

    def init_weights(self, net, config: Mapping) -> None:
        """Load weights into the freshly built `net` (before it is compiled)."""

    def wrap_model(self, net, config: Mapping):
        """The model `fit` should train in place of `net` (e.g. a Distiller around it), or None."""
        return None

    def callbacks(self, net, config: Mapping, total_steps: int | None) -> list:
        """Extra callbacks for `fit` (`total_steps`: the run's optimizer steps, when known)."""
        return []

    def after_fit(self, training) -> None:
        """A phase of its own after `fit` (the trainer's state is `training`)."""

    def metrics(self, net, config: Mapping, total_steps: int | None) -> dict:
        """Entries this plug-in adds to `metrics.json`."""
        return {}

    def after_export(self, metrics: dict, export_dir) -> None:
        """Add what the export tells (e.g. its size) to `metrics`."""

    def after_run(self, metrics: dict) -> None:
        """The run is finished and `metrics.json` written (exported or not: `--no-export`, pre-training)."""
