"""An export's training profile: what its own serving signatures make of a sample of the run's training data.

`assets.extra/training_profile.json` holds, for each signature the task serves, the distribution of
every drift feature of `kzoo.monitoring` (input length, pixel intensity, id coverage, predicted label,
confidence, score) over a seeded draw of up to `SAMPLE_SIZE` training examples, with the bins live
traffic is counted in; a server compares its traffic with it (`kzoo.serve.drift.DriftMonitor`).
The sample is the run's own data read again (`config.yaml`'s `data_source`, its seed, its `--tiny`
slice, its preprocessing): the training split with the validation carved out, in the raw form a
client sends (`DataBundle.raw_train`), fed through the export's traced signatures, so the outputs are
the served model's (quantized, when the export is). A profile is an extra: when it cannot be made (a
config that records no data source, data that is gone, a loader without raw examples), the export is
written without it and `kzoo.json` says why.
"""

from __future__ import annotations

import copy
import os
import sys
from typing import Mapping

import numpy as np
import tensorflow as tf

from kzoo import monitoring
from kzoo.data import is_prepared, pipeline, resolve_data_dir
from kzoo.errors import DataError, DataUnavailableError
from kzoo.tasks import load_data

PROFILE_FILE = "training_profile.json"
SAMPLE_SIZE = 2000  # enough for deciles (200 examples each); a second or two through a small model
_BATCH = 256


class _Unavailable(Exception):
    """Why no profile can be made; its message goes into `kzoo.json`."""


def training_profile(endpoints: Mapping, config, task, preprocessor,
                     sample_size: int = SAMPLE_SIZE) -> tuple[dict | None, str | None]:
    """`(profile, None)` for an export with signatures `endpoints` ({name: traced function}), or
    `(None, reason)` when none can be made. Never raises for the profile's sake (an unexpected error
    becomes the reason): an export must not fail for an extra. The reason is also printed on stderr,
    unless the config records no data source (a model exported from code, not from a training run)."""
    try:
        sample, data = training_sample(config, task, preprocessor, sample_size)
        signatures = {name: profile_signature(endpoints[name], name, inputs, task.known_ids(preprocessor))
                      for name, inputs in task.profile_signatures(sample).items() if name in endpoints}
    except Exception as err:  # noqa: BLE001  (see the docstring)
        reason = str(err) if isinstance(err, _Unavailable) else (
            f"computing it failed: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}")
        if config.data_source:
            print(f"kzoo.export: no training profile in this export: {reason}", file=sys.stderr)
        return None, reason
    psi = {"epsilon": monitoring.EPSILON, "moderate": monitoring.PSI_MODERATE, "alert": monitoring.PSI_ALERT,
           "min_count": monitoring.MIN_COUNT,
           "rule": "PSI < 0.1 stable, 0.1 to 0.25 moderate, >= 0.25 major (alert); see kzoo/monitoring.py"}
    return {"format": monitoring.FORMAT, "data": data, "psi": psi, "signatures": signatures}, None


def training_sample(config, task, preprocessor, count: int) -> tuple[dict, dict]:
    """`(raw inputs, description)`: a seeded uniform draw of up to `count` of the run's training examples."""
    recorded = dict(config.data_source or {})
    kind, name, data_dir = recorded.get("kind"), recorded.get("name", ""), recorded.get("data_dir")
    if not kind:
        raise _Unavailable("the config records no data source (config.yaml's data_source, written by training)")
    if kind == "files" and not os.path.exists(name):
        raise _Unavailable(f"the run's data {name!r} no longer exists")
    try:
        if kind == "tfds" and not is_prepared(name, data_dir):  # checked: a loader would try to download it
            raise _Unavailable(f"tfds {name!r} is not prepared in {resolve_data_dir(data_dir)}")
        seed = config.runtime.seed
        # A copy: a recommender's loader sets the seen items on the id maps it is given.
        bundle = load_data(config, source=name if kind == "files" else kind, data_dir=data_dir, seed=seed,
                           preprocessor=copy.copy(preprocessor))
    except (DataError, DataUnavailableError, FileNotFoundError) as err:
        raise _Unavailable(f"the run's data cannot be read: {(str(err).splitlines() or [''])[0]}") from None
    if bundle.raw_train is None:
        raise _Unavailable(f"the {task.name} data loader gives no raw training examples (DataBundle.raw_train)")
    sample = pipeline.sample_rows(bundle.raw_train, count, seed)
    examples = len(next(iter(sample.values()))) if sample else 0
    if not examples:
        raise _Unavailable("the training split is empty")
    return sample, {"split": "train", "source": kind, "name": name, "examples": examples,
                    "split_size": int(bundle.raw_train.cardinality()), "seed": seed,
                    "sample": f"a uniform draw (seed {seed}) of up to {count} examples of the training split "
                              "(validation carved out), as a client sends them"}


def profile_signature(fn, signature: str, inputs: Mapping[str, np.ndarray], known_ids: Mapping) -> dict:
    """`{"examples": n, "features": {feature: fitted spec}}` of traced signature `fn` called on `inputs`
    (arrays of n rows, and scalars such as `k` given whole) in batches."""
    rows = max(len(v) for v in inputs.values() if np.ndim(v))
    plan, values = None, {}
    for start in range(0, rows, _BATCH):
        batch = {k: v[start:start + _BATCH] if np.ndim(v) else v for k, v in inputs.items()}
        outputs = {k: t.numpy() for k, t in fn(**{k: tf.constant(v) for k, v in batch.items()}).items()}
        if plan is None:
            plan = {"signatures": {signature: {"features": monitoring.plan_features(batch, outputs, known_ids)}}}
        for name, value in monitoring.features(signature, batch, outputs, plan).items():
            values.setdefault(name, []).append(value)
    fitted = {name: monitoring.fit(spec, np.concatenate(values[name]))
              for name, spec in plan["signatures"][signature]["features"].items() if name in values}
    return {"examples": rows, "features": {name: spec for name, spec in fitted.items() if spec is not None}}
