"""Drift features of a served model's traffic, their bins, and the population stability index (PSI).

An export's training profile (`assets.extra/training_profile.json`, written by `kzoo.export.profile`)
and the server's monitor (`kzoo.serve.drift.DriftMonitor`) both turn a signature call into one value
per example and feature with `features`, and values into bins with `bin_index`: live traffic is
measured by the same code, into the same bins, as the training sample was. NumPy and the standard
library only, so a server imports it without TensorFlow.

The features of a signature (`plan_features`, from its arrays' names, dtypes and shapes):

| array                                      | feature             | value per example              | bins            |
|--------------------------------------------|---------------------|--------------------------------|-----------------|
| string input (`text`)                      | `text_words`        | whitespace-separated words     | quantile        |
| uint8 input (`image`)                      | `image_mean`        | mean pixel intensity, 0..255   | quantile        |
| integer input with known ids (`user_id`)   | `user_id_known`     | 1: a training id, 0: unknown   | categories 0, 1 |
| integer output `[B]` (`label`)             | `label`             | the class id                   | one per class   |
| float output `[B, C]` (`probabilities`)    | `probabilities_max` | the largest (confidence)       | quantile        |
| float output `[B, k]` (`scores`)           | `scores_max`        | the best score                 | quantile        |
| float output `[B]` (`score`)               | `score`             | the value                      | quantile        |
| bool output `[B]` (`fallback`)             | `fallback`          | 0 / 1                          | categories 0, 1 |
| string output (`translation`)              | `translation_words` | whitespace-separated words     | quantile        |

Other arrays (a scalar `k`, `item_ids` `[B, k]`) give no feature. Quantile bins: the first holds the
values below the training sample's `range` [min, max], the last those above it (both empty in training:
a live value beyond anything trained on counts as drift); in between, the range is cut at the sample's
deciles `edges` (duplicates merged): [min, edges[0]), [edges[0], edges[1]), ..., [edges[-1], max]. A
feature the training sample holds constant (synthetic reviews all of one length) has three bins.

PSI = sum over bins of (live - training) * ln(live / training), each fraction first raised to at least
`EPSILON` (1e-4) so that an empty bin counts as a rare one instead of an infinite term. Read it with the
usual rule: below 0.1 stable, 0.1 to 0.25 a moderate shift, 0.25 and above a major one (`PSI_ALERT`).
A category the training sample never shows (an unknown id, when every training id is known) gives
0.02 * ln(0.02 / 1e-4) = 0.11 at 2 % of the live examples, and 0.31 (an alert) at 5 %.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

FORMAT = 1  # of the profile file: a reader refuses another
QUANTILE_BINS = 10
EPSILON = 1e-4
PSI_MODERATE, PSI_ALERT = 0.1, 0.25
# Below this many live examples a feature has no PSI: the PSI of two samples drawn alike is about
# (bins - 1) / n (its chi-square approximation), 0.09 at n = 100 with 10 bins; fewer examples would
# cross the alert line by chance too often.
MIN_COUNT = 100


def plan_features(inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                  known_ids: Mapping[str, np.ndarray] | None = None) -> dict:
    """The features (see the module's table) of a signature called with `inputs` and returning `outputs`.

    `known_ids` ({input name: the ids the model knows}) makes an integer id input a `_known` feature;
    its ids are stored as inclusive ranges. Returns {feature: spec}, each spec without bins yet (`fit`
    adds them): `{"of": "input"|"output", "array": name, "measure": ..., "bins": "quantile"|"categories"}`.
    """
    known_ids = known_ids or {}
    plan = {}
    for name, value in inputs.items():
        value = np.asarray(value)
        if value.ndim == 0:
            continue
        if value.dtype.kind in "OSU" and value.ndim == 1:
            plan[f"{name}_words"] = _spec("input", name, "words", "quantile")
        elif value.dtype == np.uint8 and value.ndim >= 2:
            plan[f"{name}_mean"] = _spec("input", name, "mean", "quantile")
        elif value.dtype.kind in "iu" and value.ndim == 1 and name in known_ids:
            plan[f"{name}_known"] = {**_spec("input", name, "known", "categories"), "categories": [0, 1],
                                     "known_ranges": id_ranges(known_ids[name])}
    widths = [np.asarray(v).shape[1] for v in outputs.values() if np.asarray(v).dtype.kind == "f"
              and np.asarray(v).ndim == 2]
    for name, value in outputs.items():
        value = np.asarray(value)
        kind = value.dtype.kind
        if kind in "OSU" and value.ndim == 1:
            plan[f"{name}_words"] = _spec("output", name, "words", "quantile")
        elif kind == "b" and value.ndim == 1:
            plan[name] = {**_spec("output", name, "value", "categories"), "categories": [0, 1]}
        elif kind in "iu" and value.ndim == 1:
            # A class id: one bin per class of the probabilities beside it, else per value seen in training.
            categories = list(range(widths[0])) if widths else sorted({int(v) for v in value})
            plan[name] = {**_spec("output", name, "value", "categories"), "categories": categories}
        elif kind == "f" and value.ndim == 1:
            plan[name] = _spec("output", name, "value", "quantile")
        elif kind == "f" and value.ndim == 2:
            plan[f"{name}_max"] = _spec("output", name, "max", "quantile")
    return plan


def _spec(of: str, array: str, measure: str, bins: str) -> dict:
    return {"of": of, "array": array, "measure": measure, "bins": bins}


def features(signature: str, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
             profile: Mapping) -> dict[str, np.ndarray]:
    """{feature: float64 values, one per example} of one call of `signature`, for the features `profile` holds.

    `profile` is a training profile (`{"signatures": {name: {"features": {feature: spec}}}}`), or a
    plan of one signature's features (`{"signatures": {name: {"features": plan_features(...)}}}`). A
    signature it does not describe gives {}; a feature whose array the call lacks is left out.
    """
    specs = ((profile.get("signatures") or {}).get(signature) or {}).get("features") or {}
    values = {}
    for name, spec in specs.items():
        array = (inputs if spec["of"] == "input" else outputs).get(spec["array"])
        if array is not None:
            values[name] = measure(spec, np.asarray(array))
    return values


def measure(spec: Mapping, array: np.ndarray) -> np.ndarray:
    """The float64 values `[B]` of one feature `spec` on its array `[B, ...]` (NaN where there is none)."""
    how = spec["measure"]
    if not array.size:  # an empty batch, or `recommend`'s scores at k = 0: nothing to measure
        return np.full(len(array) if array.ndim else 0, np.nan)
    if how == "words":
        return np.array([len(_text(v).split()) for v in array.reshape(-1)], np.float64)
    if how == "mean":
        return array.reshape(len(array), -1).mean(axis=1, dtype=np.float64)
    if how == "known":
        return is_known(array.reshape(-1), spec["known_ranges"]).astype(np.float64)
    if how == "max":
        return array.reshape(len(array), -1).max(axis=1).astype(np.float64)
    if how == "value":
        return array.reshape(-1).astype(np.float64)
    raise ValueError(f"unknown measure {how!r} in feature spec {dict(spec)}")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def id_ranges(ids) -> list[list[int]]:
    """The distinct integer `ids` as sorted inclusive `[first, last]` runs: 1..943 is `[[1, 943]]`."""
    ids = np.unique(np.asarray(ids, np.int64).reshape(-1))
    if not ids.size:
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts, ends = np.r_[ids[0], ids[breaks + 1]], np.r_[ids[breaks], ids[-1]]
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def is_known(ids: np.ndarray, ranges: list) -> np.ndarray:
    """A bool per id: whether it lies in one of the inclusive `ranges` (`id_ranges`)."""
    ids = np.asarray(ids).astype(np.int64)
    if not ranges:
        return np.zeros(ids.shape, bool)
    table = np.asarray(ranges, np.int64)
    row = np.searchsorted(table[:, 0], ids, side="right") - 1
    return (row >= 0) & (ids <= table[np.maximum(row, 0), 1])


def bin_count(spec: Mapping) -> int:
    """How many bins feature `spec` (with its `range` and `edges`, or its `categories`) has."""
    return len(spec["edges"]) + 3 if spec["bins"] == "quantile" else len(spec["categories"])


def bin_index(values: np.ndarray, spec: Mapping) -> np.ndarray:
    """The bin (0 .. `bin_count(spec)` - 1) of each value; NaN values, and categories the spec does not
    list (none can occur in the features above), are left out."""
    values = np.asarray(values, np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    if spec["bins"] == "quantile":
        low, high = spec["range"]
        inside = 1 + np.searchsorted(np.asarray(spec["edges"], np.float64), values, side="right")
        return np.where(values < low, 0, np.where(values > high, len(spec["edges"]) + 2, inside))
    categories = np.asarray(spec["categories"], np.float64)  # sorted
    if not categories.size:
        return np.zeros(0, np.int64)
    where = np.minimum(np.searchsorted(categories, values), categories.size - 1)
    return where[categories[where] == values]


def fit(spec: Mapping, values: np.ndarray, bins: int = QUANTILE_BINS) -> dict | None:
    """`spec` completed from the training sample's `values`: for quantile bins the `range` and the
    `edges` (deciles), then the `training` fractions per bin and the `count` of values binned; None
    when no value is there to fit (every one NaN)."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    if not values.size:
        return None
    fitted = dict(spec)
    if spec["bins"] == "quantile":
        low, high = float(values.min()), float(values.max())
        deciles = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
        fitted["range"] = [low, high]
        fitted["edges"] = [float(e) for e in deciles if e > low]  # an edge at the minimum cuts off nothing
    counts = np.bincount(bin_index(values, fitted), minlength=bin_count(fitted))
    fitted["training"] = [float(c) for c in counts / max(counts.sum(), 1)]
    fitted["count"] = int(counts.sum())
    return fitted


def psi(training, live, epsilon: float = EPSILON) -> float:
    """The population stability index of `live` against `training` fractions (same bins; see the module)."""
    expected = np.maximum(np.asarray(training, np.float64), epsilon)
    actual = np.maximum(np.asarray(live, np.float64), epsilon)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def level(value: float | None) -> str | None:
    """"stable" (< 0.1), "moderate" (< 0.25) or "major" for a PSI; None for None."""
    if value is None or math.isnan(value):
        return None
    return "stable" if value < PSI_MODERATE else "moderate" if value < PSI_ALERT else "major"
