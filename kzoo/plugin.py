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
| `callbacks(net, config, total_steps)` | fit        | extra Keras callbacks (every fit: the refit's too)|
| `after_fit(run)`                      | after_fit  | None (may replace `run.net`)                    |
| `metrics(net, config, total_steps)`   | record     | entries for `metrics.json`                      |
| `after_export(metrics, export_dir)`   | export     | None (may add to `metrics`)                     |
| `after_run(metrics)`                  | export     | None; last, with or without an export           |

`run` is a `RunView`: the whole of the trainer's state (`kzoo.training.runner.Training`) that a
plug-in reads or sets, listed here and nowhere else:

| name                                    | what                                                                 |
|-----------------------------------------|----------------------------------------------------------------------|
| `config`                                | read: the resolved config (after the data phase's model sizes)       |
| `bundle`                                | read: the run's `DataBundle` (its `preprocessor` is reused by a refit)|
| `run_dir`, `write_dir`                  | read: the `RunDir`, and where this worker writes (scratch off the chief)|
| `is_chief`                              | read: whether this worker writes the run directory                   |
| `estimate`                              | read: the fit's `RunTimeEstimate` (the chief's; None elsewhere)      |
| `net`                                   | set: the model tested, saved and exported                            |
| `refit_info`                            | set: `metrics.json`'s `refit` (None: no refit)                       |
| `scope()`                               | the distribution strategy's scope (build or compile a model in it)   |
| `reseed()`                              | seed every generator again with the run's seed                       |
| `load_data(config, preprocessor)`       | this worker's `DataBundle` for another config                        |
| `fit_fresh(config, bundle, backup_dir, history_file, then)` | the run's fit routine on a fresh model: `(net, seconds)` |
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


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

    def after_fit(self, run: "RunView") -> None:
        """A phase of its own after `fit` (`run`: the run as plug-ins see it, a `RunView`)."""

    def metrics(self, net, config: Mapping, total_steps: int | None) -> dict:
        """Entries this plug-in adds to `metrics.json`."""
        return {}

    def after_export(self, metrics: dict, export_dir) -> None:
        """Add what the export tells (e.g. its size) to `metrics`."""

    def after_run(self, metrics: dict) -> None:
        """The run is finished and `metrics.json` written (exported or not: `--no-export`, pre-training)."""


def _read(name: str, doc: str) -> property:
    return property(lambda view: getattr(view._training, name), doc=doc)


def _read_write(name: str, doc: str) -> property:
    return property(lambda view: getattr(view._training, name),
                    lambda view, value: setattr(view._training, name, value), doc=doc)


class RunView:
    """The run as an `after_fit` hook sees it: what it reads, what it may set (the table in the module docstring).

    A view of the trainer (`kzoo.training.runner.Training`), which this module does not import.
    """

    def __init__(self, training):
        self._training = training

    config = _read("config", "The resolved config (a frozen `RunConfig`).")
    bundle = _read("bundle", "The run's `DataBundle`.")
    run_dir = _read("dir", "The run's `RunDir` (the refit record and the backups live there, on every worker).")
    write_dir = _read("write_dir", "Where this worker writes: the run directory on the chief, scratch elsewhere.")
    estimate = _read("estimate", "The fit's `RunTimeEstimate` on the chief (its test time), None elsewhere.")
    net = _read_write("net", "The model tested, saved and exported; a hook may replace it.")
    refit_info = _read_write("refit_info", "`metrics.json`'s `refit` entry (None: the run did not refit).")

    @property
    def is_chief(self) -> bool:
        """Whether this worker writes the run directory (the only worker, or worker 0)."""
        return self._training.role.is_chief

    def scope(self):
        """The distribution strategy's scope: a model built or compiled for this run is made inside it."""
        return self._training.dist.scope()

    def reseed(self) -> None:
        """Seed every generator again with the run's seed (a second fit starts from the first one's state)."""
        self._training.reseed()

    def load_data(self, config: Mapping, preprocessor: Any = None):
        """This worker's `DataBundle` for `config` (e.g. without a validation split), reusing `preprocessor`."""
        return self._training.load_data(config, preprocessor)

    def fit_fresh(self, config: Mapping, bundle, backup_dir, history_file, then: Sequence = ()):
        """Build a fresh model for `config` and train it on `bundle`'s training split as the fit phase trains.

        The same routine as the fit phase (plug-ins' `init_weights`, `wrap_model` and `callbacks`, the
        backup in `backup_dir`, the NaN stop the `check` phase reads, the CSV log `history_file`, the
        JAX distribution), with the callbacks `then` after those, without validation. Its seconds count
        in `train_seconds`. Returns `(net, seconds)`.
        """
        return self._training.fit_fresh(config, bundle, backup_dir, history_file, then)
