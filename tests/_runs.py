"""Recompute a finished run's test metrics from one of its saved models (test helper).

The trainer's `test` phase records `metrics.json` → `test`; a test states that value by scoring the
saved model itself on the same split, the way the trainer does (the bundle's own evaluation, such as
HR@10 or BLEU, else `model.evaluate`).
"""

from __future__ import annotations

from kzoo.run_dir import RunDir
from kzoo.tasks import load_data


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
