"""Test helpers for runs: tiny configs, tiny runs and run directories, and a finished run's test metrics.

`tiny_config` is what the `tiny_config` fixture (tests/conftest.py) returns, for helpers outside a test.
`tiny_run` trains one (and exports it, unless told not to); `make_run` writes an untrained model as a
finished run's directory (the parts export reads). The trainer's `test` phase records `metrics.json` →
`test`; `saved_model_test_metrics` states that value by scoring the saved model itself on the same split,
the way the trainer does (the bundle's own evaluation, such as HR@10 or BLEU, else `model.evaluate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import kzoo
from kzoo.config import dump_yaml
from kzoo.run_dir import RunDir
from kzoo.tasks import load_data


def tiny_config(name: str, overrides: Mapping[str, Any] | None = None, **dotted) -> dict:
    """The resolved tiny config of entry `name` (`kzoo.get_config(name, ..., tiny=True)`), with dotted
    overrides as a mapping and/or keywords: `tiny_config("cnn", {"prune.begin_step": 4})`,
    `tiny_config("mlp", **{"data.synthetic_size": 200})`, `tiny_config("mlp", dropout=0.0)` (model section)."""
    return kzoo.get_config(name, {**(overrides or {}), **dotted}, tiny=True)


def tiny_run(tmp_path_factory, name: str, **train_options) -> Path:
    """Train entry `name` tiny on synthetic data into a new temporary folder's `run/` and return that run
    directory: `kzoo.training.train(name, tiny=True, data="synthetic", verbose=0, **train_options)`
    (`export=False`, `overrides=...`, `epochs=...` pass through)."""
    from kzoo.training import train

    output = tmp_path_factory.mktemp(name) / "run"
    train(name, tiny=True, data="synthetic", output=str(output), verbose=0, **train_options)
    return output


def make_run(run_dir: Path, model, config, preprocessor=None) -> Path:
    """A finished run directory as `kzoo.training.train` leaves it (the parts export reads): `config.yaml`,
    `model.keras` and the preprocessor's `preprocessing/`; returns `run_dir`."""
    run_dir.mkdir(parents=True)
    dump_yaml(config, run_dir / "config.yaml")
    model.save(run_dir / "model.keras")
    if preprocessor is not None:
        preprocessor.save(run_dir / "preprocessing")
    return run_dir


def saved_model_test_metrics(run_path, model_file=None, data: str = "synthetic", split: str = "test") -> dict:
    """`{metric: float}` of the run's `model_file` (default `model.keras`) on its `split` ("test" or "val")."""
    run = RunDir(run_path)
    config = run.config()
    bundle = load_data(config, source=data, seed=config["runtime"]["seed"], preprocessor=run.preprocessor(config))
    model = run.load_model(model_file, compile=True)
    if bundle.evaluate is not None:
        values = bundle.evaluate(model, split)
    else:
        values = model.evaluate(getattr(bundle, split), return_dict=True, verbose=0)
    return {name: float(value) for name, value in values.items()}
