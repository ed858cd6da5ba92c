"""The few calls `kzoo.training.train()` makes into compression (kept here so run.py stays small)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

from kzoo.compression import prune
from kzoo.compression.size import saved_model_size
from kzoo.config import ConfigError, load_yaml
from kzoo.training.run_dir import RunDirError


def is_student(config: Mapping) -> bool:
    """Whether the config is a distillation student's (`distill.teacher` is set)."""
    return bool(config.get("distill", {}).get("teacher"))


def from_run(config: Mapping) -> Path | None:
    """The run a pruned model starts from (`prune.from_run`), or None to train from scratch."""
    path = config.get("prune", {}).get("from_run") or ""
    return Path(path).expanduser() if path else None


def check_config(config: Mapping, wrap_model: Callable | None) -> None:
    """Reject configs train() cannot honour: a student without its teacher, a missing `prune.from_run`."""
    if is_student(config) and wrap_model is None:
        raise ConfigError(f"distill.teacher is set ({config['distill']['teacher']}): train or resume a student "
                          "with tools/distill.py --teacher RUN_DIR (kzoo.compression.distill_run)")
    source = from_run(config)
    if source is not None:
        if not (source / "model.keras").is_file() or not (source / "config.yaml").is_file():
            raise RunDirError(f"prune.from_run: {str(source)!r} is not a finished run (config.yaml and model.keras)")
        entry = load_yaml(source / "config.yaml").get("entry")
        if entry != config["entry"]:
            raise ConfigError(f"prune.from_run: {str(source)!r} is a {entry!r} run, not {config['entry']!r}")


def preprocessor(config: Mapping, given=None):
    """The fitted preprocessor train() reuses: `given`, else `prune.from_run`'s (its weights need its ids)."""
    source = from_run(config)
    if given is not None or source is None or not (source / "preprocessing").is_dir():
        return given
    from kzoo.data import load_preprocessor

    return load_preprocessor(source / "preprocessing")


def init_weights(net, config: Mapping) -> None:
    """Copy `prune.from_run`'s trained weights into `net` (pruning then fine-tunes them)."""
    source = from_run(config)
    if source is None:
        return
    import keras

    trained = keras.saving.load_model(source / "model.keras", compile=False)
    try:
        net.set_weights(trained.get_weights())
    except ValueError as err:
        raise ConfigError(f"prune.from_run: the weights of {source} do not fit this model: "
                          f"{str(err).splitlines()[0]}") from None


def callbacks(net, config: Mapping, total_steps: int | None) -> list:
    """Callbacks compression adds to `fit` (magnitude pruning when `prune.target_sparsity` > 0)."""
    return prune.pruning_callbacks(net, config, total_steps)


def run_metrics(net, config: Mapping, total_steps: int | None) -> dict:
    """`metrics.json` entries: `distill` (teacher, T, alpha) for students, `prune` for pruned runs."""
    metrics = {}
    if is_student(config):
        metrics["distill"] = dict(config["distill"])
    if prune.enabled(config):
        metrics["prune"] = {"from_run": config["prune"].get("from_run", ""), **prune.pruning_metrics(net, config, total_steps)}
    return metrics


def export_metrics(metrics: dict, export_dir) -> None:
    """Add the export's raw and gzip size to the `prune`/`distill` entries of `metrics`."""
    for key in ("prune", "distill"):
        if key in metrics:
            metrics[key]["saved_model"] = saved_model_size(export_dir)
