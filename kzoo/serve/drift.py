"""Drift of a served model's traffic against its training profile, as population stability indices (PSI).

    profile = load_profile("models/lstm/3")              # assets.extra/training_profile.json, or None
    monitor = DriftMonitor(profile, window=5000)
    monitor.observe("serving_default", {"text": texts}, {"label": labels, "probabilities": probs})
    monitor.report()  # {"observed", "window", "features": {"serving_default/text_words": {"psi", ...}}, ...}

The export wrote the profile (`kzoo.export.profile`) by running its own signatures on a sample of the
training data; `features` (from `kzoo.monitoring`, shared with the export) measures live calls the same
way, into the same bins. Each feature keeps the bins of its last `window` examples, so memory is
bounded whatever the traffic. PSI thresholds (the usual rule): below 0.1 stable, 0.1 to 0.25 moderate,
0.25 and above major, which sets `alert`; a feature has no PSI before `min_count` (100) live examples.
Empty bins count as 1e-4 of the examples (`kzoo.monitoring.EPSILON`). NumPy and the standard library only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Mapping

import numpy as np

from kzoo.monitoring import FORMAT, MIN_COUNT, PSI_ALERT, bin_count, bin_index, features, level, psi

__all__ = ["DriftMonitor", "features", "load_profile"]

PROFILE_PATH = Path("assets.extra") / "training_profile.json"


def load_profile(version_dir) -> dict | None:
    """The training profile of the SavedModel version folder `version_dir`, or None when it has none (an
    export made before profiles existed, or one whose training data could not be read: its
    `assets.extra/kzoo.json` says why). A profile of another format raises ValueError."""
    path = Path(version_dir) / PROFILE_PATH
    if not path.is_file():
        return None
    profile = json.loads(path.read_text(encoding="utf-8"))
    if profile.get("format") != FORMAT:
        raise ValueError(f"{path}: training profile format {profile.get('format')!r}; this kzoo reads {FORMAT}")
    return profile


class _Window:
    """The bins of one feature's last `size` examples: a ring of bin indices and their running counts."""

    def __init__(self, bins: int, size: int):
        self.ring = np.full(size, -1, np.int64)  # -1: a slot not filled yet
        self.counts = np.zeros(bins, np.int64)
        self.next = 0

    def add(self, bins: np.ndarray) -> None:
        bins = bins[-self.ring.size:]  # a batch larger than the window: only its last examples stay
        slots = (self.next + np.arange(bins.size)) % self.ring.size
        old = self.ring[slots]
        np.subtract.at(self.counts, old[old >= 0], 1)
        self.ring[slots] = bins
        np.add.at(self.counts, bins, 1)
        self.next = int((self.next + bins.size) % self.ring.size)


class DriftMonitor:
    """Live feature distributions of a served model over a sliding window, against its training profile.

    Thread-safe: `observe` may be called from every request handler, `report` from a metrics endpoint.
    Signatures and features the profile does not describe are ignored.
    """

    def __init__(self, profile: Mapping, window: int = 5000, min_count: int = MIN_COUNT):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.profile, self.window, self.min_count = profile, int(window), int(min_count)
        self.observed = 0
        self._lock = threading.Lock()
        self._specs = {f"{signature}/{name}": spec for signature, entry in profile["signatures"].items()
                       for name, spec in entry["features"].items()}
        self._windows = {key: _Window(bin_count(spec), self.window) for key, spec in self._specs.items()}

    def observe(self, signature: str, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """Count one call of `signature`: its raw `inputs` and its `outputs` (NumPy arrays or lists, as served)."""
        values = features(signature, {k: np.asarray(v) for k, v in inputs.items()},
                          {k: np.asarray(v) for k, v in outputs.items()}, self.profile)
        if not values:
            return
        bins = {f"{signature}/{name}": bin_index(v, self._specs[f"{signature}/{name}"]) for name, v in values.items()}
        with self._lock:  # binning above runs unlocked; only the shared counts are updated under it
            self.observed += max(len(v) for v in values.values())
            for key, indices in bins.items():
                self._windows[key].add(indices)

    def report(self) -> dict:
        """JSON-ready `{"observed": examples seen, "window": w, "features": {"SIGNATURE/FEATURE": {"psi",
        "level", "count", "training", "live", "range" and "edges" | "categories"}}, "max_psi", "alert"}`; `psi` is
        None below `min_count` live examples in the window, `alert` is whether any PSI is >= 0.25."""
        with self._lock:
            observed, counts = self.observed, {key: w.counts.copy() for key, w in self._windows.items()}
        report = {}
        for key, spec in self._specs.items():
            count = int(counts[key].sum())
            live = counts[key] / count if count else np.zeros(counts[key].size)
            value = psi(spec["training"], live) if count >= self.min_count else None
            bins = ({"range": spec["range"], "edges": spec["edges"]} if spec["bins"] == "quantile"
                    else {"categories": spec["categories"]})
            report[key] = {"psi": value, "level": level(value), "count": count, "training": list(spec["training"]),
                           "live": [float(f) for f in live], **bins}
        values = [entry["psi"] for entry in report.values() if entry["psi"] is not None]
        top = max(values, default=None)
        return {"observed": observed, "window": self.window, "features": report, "max_psi": top,
                "alert": top is not None and top >= PSI_ALERT}
