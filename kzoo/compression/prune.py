"""Magnitude pruning for Keras 3 models (Zhu & Gupta 2017, "To prune, or not to prune").

Why hand-written: `tensorflow-model-optimization` (0.8.1, the latest release) requires `tf-keras`
and deliberately imports Keras 2 (`tf_keras`) even when `tf.keras` is Keras 3; its
`prune_low_magnitude` rejects Keras 3 models. So kzoo prunes with a callback instead of wrapper
layers: after every optimizer step it multiplies each target weight by its 0/1 mask, so pruned
weights stay exactly zero; every `prune.frequency` steps (and at `end_step`) it recomputes the
masks so that the smallest-magnitude fraction `s(step)` of each weight is zero, where

    s(t) = s_f + (s_i - s_f) * (1 - (t - begin) / (end - begin)) ** 3    for begin <= t <= end.

The model itself is never changed: saving and exporting write plain weights that contain zeros.
Targets: the kernels of Dense, EinsumDense and convolution layers, Embedding tables, and the
kernel and recurrent kernel of LSTM cells (inside Bidirectional too). Biases are kept.
`prune.exclude` lists weight-path patterns (`fnmatch`, e.g. `logits/*`) to leave dense: a small
classifier head pruned with the rest can cost more than it saves (BENCHMARKS.md, IMDB at 90 %).
`Pruning` is the trainer plug-in that adds the callback to every run whose config asks for it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Mapping, Sequence

import keras
import numpy as np

from kzoo.compression.size import saved_model_size
from kzoo.errors import ConfigError
from kzoo.finite import variable_numpy
from kzoo.plugin import RunPlugin

# Layer class -> names of the weights to prune.
_TARGETS = (
    (keras.layers.Dense, ("kernel",)),
    (keras.layers.EinsumDense, ("kernel",)),
    (keras.layers.Conv1D, ("kernel",)),
    (keras.layers.Conv2D, ("kernel",)),
    (keras.layers.Conv3D, ("kernel",)),
    (keras.layers.Embedding, ("embeddings",)),
    (keras.layers.LSTMCell, ("kernel", "recurrent_kernel")),
)


@dataclasses.dataclass(frozen=True)
class PolynomialSchedule:
    """Sparsity per optimizer step: cubic ramp from `initial` to `target` over [begin, end]."""

    initial: float
    target: float
    begin: int
    end: int
    frequency: int

    def sparsity(self, step: int) -> float:
        """Sparsity the masks should have after `step` optimizer steps (0 before `begin`)."""
        if step < self.begin:
            return 0.0
        progress = min(1.0, (step - self.begin) / max(1, self.end - self.begin))
        return self.target + (self.initial - self.target) * (1.0 - progress) ** 3

    def last_update(self, step: int) -> int | None:
        """The latest step <= `step` at which the masks are recomputed (None before `begin`).

        Masks are recomputed every `frequency` steps from `begin`, and at `end`.
        """
        if step < self.begin:
            return None
        if step >= self.end:
            return self.end
        return self.begin + (step - self.begin) // self.frequency * self.frequency


def enabled(config: Mapping) -> bool:
    """Whether the config asks for pruning (`prune.target_sparsity` > 0)."""
    return float(config.get("prune", {}).get("target_sparsity", 0.0)) > 0


def schedule_from_config(config: Mapping, total_steps: int | None) -> PolynomialSchedule:
    """Build the schedule of `config.prune`; `end_step: 0` means 3/4 of `total_steps`.

    The last quarter of the run then trains at the target sparsity, which recovers accuracy.
    Raises ConfigError when the values do not make a schedule.
    """
    p = config.get("prune", {})
    entry = (config.entry or "config")
    initial, target = p.initial_sparsity, p.target_sparsity
    begin, end, frequency = p.begin_step, p.end_step, p.frequency
    for key, value in (("initial_sparsity", initial), ("target_sparsity", target)):
        if not 0 <= value < 1:
            raise ConfigError(f"{entry}: prune.{key} must be in [0, 1), got {value!r}")
    if initial > target:
        raise ConfigError(f"{entry}: prune.initial_sparsity ({initial}) must not exceed prune.target_sparsity ({target})")
    if frequency < 1:
        raise ConfigError(f"{entry}: prune.frequency must be > 0, got {frequency!r}")
    if end == 0:
        if not total_steps:
            raise ConfigError(f"{entry}: set prune.end_step: the number of training steps is unknown")
        end = max(begin + 1, int(round(0.75 * total_steps)))
    if end <= begin:
        raise ConfigError(f"{entry}: prune.end_step ({end}) must be greater than prune.begin_step ({begin})")
    return PolynomialSchedule(initial, target, begin, end, frequency)


def prunable_weights(model: keras.Model, exclude: Sequence[str] = ()) -> list:
    """The variables magnitude pruning targets in `model`, in layer order (unique).

    `exclude`: fnmatch patterns; a weight whose path (`var.path`, e.g. "logits/kernel") matches one
    is left out.
    """
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=False):  # the walk Model.quantize does
        for cls, names in _TARGETS:
            if isinstance(layer, cls):
                for name in names:
                    var = getattr(layer, name, None)
                    if var is not None and id(var) not in seen:
                        seen.add(id(var))
                        if not _matches(var.path, exclude):
                            found.append(var)
    return found


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def exclude_from_config(model: keras.Model, config: Mapping) -> list[str]:
    """`prune.exclude` checked against `model`: ConfigError for a pattern that matches no prunable weight."""
    patterns = list(config.get("prune", {}).get("exclude", []) or [])
    paths = [var.path for var in prunable_weights(model)]
    for pattern in patterns:
        if not isinstance(pattern, str) or not any(_matches(path, [pattern]) for path in paths):
            entry = (config.entry or "config")
            raise ConfigError(f"{entry}: prune.exclude pattern {pattern!r} matches no prunable weight; "
                              f"the prunable weights are: {', '.join(paths)}")
    return patterns


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """0/1 mask (weights' dtype) zeroing exactly round(sparsity * size) smallest-|w| entries."""
    flat = np.abs(np.asarray(weights)).ravel()
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=np.asarray(weights).dtype)
    if k > 0:
        mask[np.argpartition(flat, k - 1)[:k]] = 0
    return mask.reshape(np.shape(weights))


def sparsity_report(model: keras.Model, exclude: Sequence[str] = ()) -> dict:
    """{weight path: fraction of exact zeros} for every pruned weight, plus the overall fraction.

    Weights matching `exclude` are left out (listed under "excluded" when there are any).
    """
    per_weight, excluded, zeros, total = {}, [], 0, 0
    for var in prunable_weights(model):
        if _matches(var.path, exclude):
            excluded.append(var.path)
            continue
        values = variable_numpy(var)
        n_zero = int(values.size - np.count_nonzero(values))
        per_weight[var.path] = round(n_zero / values.size, 4)
        zeros, total = zeros + n_zero, total + values.size
    report = {"per_layer": per_weight, "overall": round(zeros / max(total, 1), 4)}
    if exclude:
        report["excluded"] = excluded
    return report


class MagnitudePruning(keras.callbacks.Callback):
    """Keeps the prunable weights of `model` masked by magnitude along a `PolynomialSchedule`.

    `model` is the network being pruned (the student when the fitted model is a Distiller). The
    step is the optimizer's `iterations`, so a resumed run continues the schedule. Add it after
    EarlyStopping: if that restores weights from before `end_step`, `on_train_end` prunes them to
    the last sparsity the schedule reached (`best.keras`, written during training, may be less sparse).
    """

    def __init__(self, model: keras.Model, schedule: PolynomialSchedule, exclude: Sequence[str] = ()):
        super().__init__()
        self.net, self.schedule, self.exclude = model, schedule, tuple(exclude)
        self.targets: list = []
        self.masks: list = []
        self.mask_step: int | None = None  # the step the current masks were computed at

    def _step(self) -> int:
        return int(variable_numpy(self.model.optimizer.iterations))

    def _update_masks(self, step: int) -> None:
        sparsity = self.schedule.sparsity(step)
        self.masks = [keras.ops.convert_to_tensor(magnitude_mask(variable_numpy(v), sparsity))
                      for v in self.targets]
        self.mask_step = step

    def _apply_masks(self) -> None:
        for var, mask in zip(self.targets, self.masks):
            var.assign(var.value * mask)

    def on_train_begin(self, logs=None):
        self.targets = prunable_weights(self.net, self.exclude)
        self.on_train_batch_end(None)  # after a resume, rebuild the masks the schedule had reached

    def on_train_end(self, logs=None):
        """Re-mask at the sparsity reached: EarlyStopping may have restored less sparse weights."""
        if self.mask_step is not None:
            self._update_masks(self.mask_step)
            self._apply_masks()

    def on_train_batch_end(self, batch, logs=None):
        due = self.schedule.last_update(self._step())
        if due is None:
            return
        if due != self.mask_step:  # steps_per_execution > 1 may step over the exact update step
            self._update_masks(due)
        self._apply_masks()


class Pruning(RunPlugin):
    """Trainer plug-in: magnitude pruning while a run trains, when `prune.target_sparsity` > 0."""

    def callbacks(self, net: keras.Model, config: Mapping, total_steps: int | None) -> list:
        """`[MagnitudePruning]` when the config enables pruning, else `[]`."""
        if not enabled(config):
            return []
        return [MagnitudePruning(net, schedule_from_config(config, total_steps), exclude_from_config(net, config))]

    def metrics(self, net: keras.Model, config: Mapping, total_steps: int | None) -> dict:
        """`metrics.json`'s `prune` entry: where it started, the schedule, the sparsity reached per weight."""
        if not enabled(config):
            return {}
        schedule = schedule_from_config(config, total_steps)
        return {"prune": {"from_run": config.prune.from_run, "schedule": dataclasses.asdict(schedule),
                          "sparsity": sparsity_report(net, exclude_from_config(net, config))}}

    def after_export(self, metrics: dict, export_dir) -> None:
        """The export's raw and gzip size, in the `prune` entry."""
        if "prune" in metrics:
            metrics["prune"]["saved_model"] = saved_model_size(export_dir)
