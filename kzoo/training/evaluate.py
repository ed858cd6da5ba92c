"""`evaluate_run()`: a finished run's metrics on a split, with the run's own preprocessing and data.

The data is the source the run recorded (`config.yaml` → `data_source`, else `metrics.json` → `data`):
the same file or folder, the same tfds dataset, or the same generated set. Another source is used
only when asked for by name with `allow_other_data`, and the result always says which was used.
"""

from __future__ import annotations

import os
import sys

from kzoo import progress
from kzoo.data import is_prepared, resolve_data_dir
from kzoo.errors import DataError, DataUnavailableError, RunDirError
from kzoo.run_dir import RunDir
from kzoo.tasks import compile_model, load_data

SPLITS = ("train", "val", "test")


def recorded_source(config: dict, metrics: dict) -> dict:
    """The data a run trained on, `{"kind": "tfds"|"files"|"synthetic", "name": ...}`; {} if it recorded none.

    `config.yaml`'s `data_source` (it may also hold the tfds `data_dir`), else `metrics.json`'s `data`.
    """
    recorded = dict(config.data_source or {})
    if recorded.get("kind"):
        return recorded
    used = metrics.get("data") or {}  # metrics.json's record of the data, not the config's data section
    return {"kind": used["source"], "name": used.get("name", "")} if used.get("source") else {}


def describe(recorded: dict) -> str:
    """`recorded` (a `recorded_source` result) in words, e.g. "tfds 'imdb_reviews'"."""
    kind = recorded.get("kind", "?")
    return "SYNTHETIC (generated) data" if kind == "synthetic" else f"{kind} {recorded.get('name', '')!r}"


def _same_source(data: str, recorded: dict) -> bool:
    kind, name = recorded.get("kind"), recorded.get("name", "")
    if data in ("tfds", "synthetic"):
        return data == kind
    if kind != "files":
        return False
    path = os.path.abspath(os.path.expanduser(data))
    # A folder names the same data as the file the loader found in it (a ratings folder -> its u.data).
    return path == os.path.abspath(name) or path == os.path.dirname(os.path.abspath(name))


def run_data_source(recorded: dict, data: str | None = "auto", data_dir: str | None = None,
                    allow_other_data: bool = False) -> tuple[str, str | None]:
    """Return the `(source, data_dir)` to load for a run that trained on `recorded`.

    `data` None or "auto" means the recorded source: the same files, the same tfds dataset (in
    `data_dir`, else the recorded data dir, else the default one), or the same generated set.
    Any other `data` ("tfds", "synthetic", a path) must name that source too, unless
    `allow_other_data`. Raises DataError or DataUnavailableError (one line, saying what to pass)
    instead of switching source: missing files, a tfds dataset not prepared, another source.
    """
    kind, name = recorded.get("kind"), recorded.get("name", "")
    if data in (None, "auto"):
        if not kind:
            raise DataError("this run records no data source; pass --data tfds, --data synthetic or --data PATH")
        source = name if kind == "files" else kind
        if kind == "files" and not os.path.exists(name):
            raise DataError(f"this run trained on the files {name!r}, which no longer exist; to evaluate "
                            f"it on other files pass --data PATH --allow-other-data")
    elif kind and not allow_other_data and not _same_source(data, recorded):
        raise DataError(f"this run trained on {describe(recorded)}; --data {data} is other data. Leave --data "
                        f"out to evaluate on the run's own data, or add --allow-other-data")
    else:
        source = data
    if source == "tfds":
        data_dir = data_dir or recorded.get("data_dir")
        # Checked here: the loaders would download it (minutes) or fall back, never what an evaluation wants.
        if kind == "tfds" and not is_prepared(name, data_dir):
            raise DataUnavailableError(f"this run trained on tfds {name!r}, which is not prepared in "
                                       f"{resolve_data_dir(data_dir)}; pass --data-dir DIR holding it")
    return source, data_dir


def evaluate_run(path: str, data: str | None = "auto", data_dir: str | None = None, split: str = "test",
                 seed: int | None = None, allow_other_data: bool = False) -> dict:
    """Evaluate a run's final model on `split`; return `{"model", "run_dir", "split", "data", "trained_on",
    "same_data", "metrics"}` (`data`: the source used, `trained_on`: the one the run recorded).

    `path` is a run directory or a SavedModel exported inside one. The data is the run's own
    (`run_data_source`: `data` "auto" reuses it, another source needs `allow_other_data`). The
    run's saved preprocessor (vocabulary, id maps) is reused, so ids mean what they meant in
    training; the run's seed recreates its validation carve-out and evaluation candidates.
    """
    if split not in SPLITS:
        raise RunDirError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    run = RunDir.find(path)
    config, metrics = run.config(), run.metrics()
    recorded = recorded_source(config, metrics)
    source, data_dir = run_data_source(recorded, data, data_dir, allow_other_data)
    if seed is None:
        seed = metrics.get("seed", 0)
    bundle = load_data(config, source=source, data_dir=data_dir, seed=seed, preprocessor=run.preprocessor(config))
    used = bundle.summary()
    same = used["source"] == recorded.get("kind") and (used["source"] != "files"
                                                       or _same_source(used["name"], recorded))
    if not same:
        print(f"kzoo: evaluating on {describe({'kind': used['source'], 'name': used['name']})}, not the data "
              f"the run trained on ({describe(recorded) if recorded else 'not recorded'})", file=sys.stderr)
    elif used["source"] == "synthetic":
        print("kzoo: evaluating on SYNTHETIC data (generated, as the run was trained): the score says "
              "nothing about real data", file=sys.stderr)
    # Compiled as training compiled it (its task's loss and metrics): loading the saved compile state would
    # also restore an optimizer evaluation never uses (Keras warns it skips its variables).
    model = run.load_model(compile=False)
    compile_model(model, config)
    dataset = {"train": bundle.train, "val": bundle.val, "test": bundle.test}[split]
    if bundle.evaluate is None and dataset is None:
        raise RunDirError(f"this run's data has no {split!r} split")
    with progress.step(f"evaluating {config.entry} on the {split} split ({bundle.sizes.get(split, '?')} examples)"):
        if bundle.evaluate is not None:
            values = bundle.evaluate(model, split)
        else:
            values = model.evaluate(dataset, return_dict=True, verbose=int(progress.interactive()))
    return {"model": config.entry, "run_dir": str(run), "split": split, "data": used, "trained_on": recorded,
            "same_data": same, "metrics": {k: float(v) for k, v in values.items()}}
