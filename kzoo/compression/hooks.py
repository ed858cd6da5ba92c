"""The few calls `kzoo.training.train()` makes into compression (kept here so run.py stays small)."""

from __future__ import annotations

from typing import Callable, Mapping

from kzoo.compression import prune
from kzoo.compression.size import saved_model_size
from kzoo.config import ConfigError


def is_student(config: Mapping) -> bool:
    """Whether the config is a distillation student's (`distill.teacher` is set)."""
    return bool(config.get("distill", {}).get("teacher"))


def check_wrap(config: Mapping, wrap_model: Callable | None) -> None:
    """A student's config must be trained through `distill_run`, which passes the teacher wrapper."""
    if is_student(config) and wrap_model is None:
        raise ConfigError(f"distill.teacher is set ({config['distill']['teacher']}): train or resume a student "
                          "with tools/distill.py --teacher RUN_DIR (kzoo.compression.distill_run)")


def callbacks(net, config: Mapping, total_steps: int | None) -> list:
    """Callbacks compression adds to `fit` (magnitude pruning when `prune.target_sparsity` > 0)."""
    return prune.pruning_callbacks(net, config, total_steps)


def run_metrics(net, config: Mapping, total_steps: int | None) -> dict:
    """`metrics.json` entries: `distill` (teacher, T, alpha) for students, `prune` for pruned runs."""
    metrics = {}
    if is_student(config):
        metrics["distill"] = dict(config["distill"])
    if prune.enabled(config):
        metrics["prune"] = prune.pruning_metrics(net, config, total_steps)
    return metrics


def export_metrics(metrics: dict, export_dir) -> None:
    """Add the export's raw and gzip size to the `prune`/`distill` entries of `metrics`."""
    for key in ("prune", "distill"):
        if key in metrics:
            metrics[key]["saved_model"] = saved_model_size(export_dir)
