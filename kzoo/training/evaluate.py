"""`evaluate_run()`: a finished run's metrics on a split, with the run's own preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from kzoo import config as config_lib
from kzoo.training.run_dir import RunDirError

SPLITS = ("train", "val", "test")


def _find_run_dir(path: Path) -> Path:
    """Accept a run directory, or a SavedModel exported inside one (`RUN/export/<version>`)."""
    for candidate in (path, *path.parents):
        if (candidate / "config.yaml").is_file() and (candidate / "model.keras").is_file():
            return candidate
        if candidate.name == "export":
            continue
        if candidate != path and not (candidate / "export").is_dir():
            break
    raise RunDirError(
        f"{str(path)!r} is not a finished run directory (config.yaml and model.keras) "
        "nor a SavedModel exported inside one"
    )


def evaluate_run(path: str, data: str = "auto", data_dir: str | None = None, split: str = "test",
                 seed: int | None = None) -> dict:
    """Evaluate a run's final model on `split` and return `{"model", "split", "data", "metrics"}`.

    The run's saved preprocessor (vocabulary, id maps) is reused, so ids mean what they meant in
    training; the run's seed recreates its validation carve-out and evaluation candidates.
    """
    if split not in SPLITS:
        raise RunDirError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    run_dir = _find_run_dir(Path(path))
    config = config_lib.load_yaml(run_dir / "config.yaml")
    metrics_file = run_dir / "metrics.json"
    if seed is None:
        seed = json.loads(metrics_file.read_text()).get("seed", 0) if metrics_file.is_file() else 0

    import kzoo.models  # noqa: F401  (registers the custom layers load_model needs)
    from kzoo.data import load_data, load_preprocessor

    preprocessor = load_preprocessor(run_dir / "preprocessing") if (run_dir / "preprocessing").is_dir() else None
    bundle = load_data(config, source=data, data_dir=data_dir, seed=seed, preprocessor=preprocessor)
    model = keras.saving.load_model(run_dir / "model.keras")
    if bundle.evaluate is not None:
        values = bundle.evaluate(model, split)
    else:
        dataset = {"train": bundle.train, "val": bundle.val, "test": bundle.test}[split]
        if dataset is None:
            raise RunDirError(f"this run's data has no {split!r} split")
        values = model.evaluate(dataset, return_dict=True, verbose=0)
    return {"model": config["entry"], "run_dir": str(run_dir), "split": split, "data": bundle.summary(),
            "metrics": {k: float(v) for k, v in values.items()}}
