"""`evaluate_run()`: a finished run's metrics on a split, with the run's own preprocessing."""

from __future__ import annotations

from kzoo.run_dir import RunDir, RunDirError
from kzoo.tasks import load_data

SPLITS = ("train", "val", "test")


def evaluate_run(path: str, data: str = "auto", data_dir: str | None = None, split: str = "test",
                 seed: int | None = None) -> dict:
    """Evaluate a run's final model on `split` and return `{"model", "run_dir", "split", "data", "metrics"}`.

    `path` is a run directory or a SavedModel exported inside one. The run's saved preprocessor
    (vocabulary, id maps) is reused, so ids mean what they meant in training; the run's seed
    recreates its validation carve-out and evaluation candidates.
    """
    if split not in SPLITS:
        raise RunDirError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    run = RunDir.find(path)
    config = run.config()
    if seed is None:
        seed = run.metrics().get("seed", 0)
    bundle = load_data(config, source=data, data_dir=data_dir, seed=seed, preprocessor=run.preprocessor(config))
    model = run.load_model(compile=True)
    if bundle.evaluate is not None:
        values = bundle.evaluate(model, split)
    else:
        dataset = {"train": bundle.train, "val": bundle.val, "test": bundle.test}[split]
        if dataset is None:
            raise RunDirError(f"this run's data has no {split!r} split")
        values = model.evaluate(dataset, return_dict=True, verbose=0)
    return {"model": config["entry"], "run_dir": str(run), "split": split, "data": bundle.summary(),
            "metrics": {k: float(v) for k, v in values.items()}}
