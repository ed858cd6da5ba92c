"""The served models: each a base folder of numbered SavedModel versions (TF Serving's layout).

`ModelRepository` loads the versions a `VersionPolicy` picks, and a watcher thread polls the folders:
a new version is loaded and warmed up off the request path, then swapped in; a retired version is
dropped from the table, and freed once the requests that already hold it have finished (they keep a
reference), so a swap fails no request. A version that fails to load is reported in the model's status
and retried when its folder changes; the versions already served stay.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from kzoo.serve.batching import BatchedSignature, BatchOptions
from kzoo.serve.folders import VersionPolicy, versions_on_disk

log = logging.getLogger("kzoo.serve")

KZOO_JSON = Path("assets.extra") / "kzoo.json"


@dataclass
class LoadedVersion:
    """One loaded SavedModel version: its signatures (batched), its `kzoo.json` and its drift monitor."""

    name: str
    version: int
    path: Path
    signatures: dict[str, BatchedSignature]
    metadata: dict
    monitor: object | None = None
    loaded_at: float = field(default_factory=time.time)
    _saved_model: object = None  # the tf.saved_model.load object; the signatures hold its variables


def load_version(name: str, version: int, path: Path, options: BatchOptions,
                 make_monitor: Callable[[Path], object] | None = None) -> LoadedVersion:
    """Load `path` (one SavedModel version) with every signature batched and traced once (off the request path)."""
    try:
        loaded = tf.saved_model.load(str(path))
    except (tf.errors.NotFoundError, RuntimeError, ValueError) as err:
        if "Op type not registered" not in str(err):
            raise
        import tensorflow_text  # noqa: F401  (WordPiece tokenizers: registers their ops)
        loaded = tf.saved_model.load(str(path))
    metadata = json.loads((path / KZOO_JSON).read_text()) if (path / KZOO_JSON).is_file() else {}
    signatures = {}
    for signature, function in loaded.signatures.items():
        signatures[signature] = BatchedSignature(function, options)
    for batched in signatures.values():
        warm_up(batched)
    monitor = make_monitor(path) if make_monitor else None
    return LoadedVersion(name, version, path, signatures, metadata, monitor, _saved_model=loaded)


def warm_up(signature: BatchedSignature) -> None:
    """Call `signature` once on a one-row input of zeros / empty strings, so the first request does not trace it."""
    inputs = {}
    for name, spec in signature.input_specs.items():
        shape = [1 if d is None else d for d in spec.shape.as_list()] if spec.shape.rank else []
        dtype = object if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
        inputs[name] = np.full(shape, b"" if dtype is object else (1 if spec.shape.rank == 0 else 0), dtype=dtype)
    try:
        signature(inputs)
    except tf.errors.OpError:  # a signature that refuses zeros still serves; its first request traces it
        pass


class ModelRepository:
    """name → {version → LoadedVersion}, kept in step with the folders by `poll()` (and a watcher thread)."""

    def __init__(self, bases: dict[str, Path], policy: VersionPolicy, options: BatchOptions, make_monitor=None):
        self.bases = dict(bases)
        self.policy = policy
        self.options = options
        self._make_monitor = make_monitor
        self._served: dict[str, dict[int, LoadedVersion]] = {name: {} for name in bases}
        self._failed: dict[tuple[str, int], tuple[float, str]] = {}  # (name, version) → (folder mtime, error)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """Load the versions the policy now picks and retire the others (one pass over every base folder)."""
        for name, base in self.bases.items():
            wanted = self.policy.pick(versions_on_disk(base))
            for version in wanted:
                if version not in self._served[name]:
                    self._try_load(name, version, base / str(version))
            with self._lock:
                loaded = dict(self._served[name])
                keep = {v: lv for v, lv in loaded.items() if v in wanted}
                if keep or not loaded:
                    # never retire the last version before its successor has loaded
                    self._served[name] = keep
            for version in sorted(set(loaded) - set(self._served[name])):
                log.info("kzoo-serve: %s version %d retired", name, version)

    def _try_load(self, name: str, version: int, path: Path) -> None:
        stamp = path.stat().st_mtime
        failed = self._failed.get((name, version))
        if failed and failed[0] == stamp:
            return
        try:
            loaded = load_version(name, version, path, self.options, self._make_monitor)
        except Exception as err:  # a half-copied or broken folder: report it and keep serving the others
            self._failed[(name, version)] = (stamp, f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
            log.warning("kzoo-serve: %s version %d failed to load: %s", name, version, err)
            return
        self._failed.pop((name, version), None)
        with self._lock:
            self._served[name][version] = loaded
        log.info("kzoo-serve: %s version %d loaded from %s", name, version, path)

    def start_watching(self, interval_s: float) -> None:
        """Poll every `interval_s` seconds on a daemon thread until `stop()`."""
        def watch():
            while not self._stop.wait(interval_s):
                try:
                    self.poll()
                except Exception:  # the watcher must outlive one bad pass (e.g. a folder removed mid-scan)
                    log.exception("kzoo-serve: version poll failed")

        self._thread = threading.Thread(target=watch, name="kzoo-serve-versions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher thread."""
        self._stop.set()

    def get(self, name: str, version: int | None = None) -> LoadedVersion | None:
        """The version asked for (None: the newest served), or None when it is not served."""
        with self._lock:
            versions = self._served.get(name) or {}
            if version is None:
                return versions[max(versions)] if versions else None
            return versions.get(version)

    def served_versions(self, name: str) -> list[int]:
        """The version numbers now served for `name`, ascending."""
        with self._lock:
            return sorted(self._served.get(name) or {})

    def status(self, name: str) -> list[dict]:
        """TF Serving's `model_version_status` entries: served versions AVAILABLE, failed ones with their error."""
        entries = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                   for v in self.served_versions(name)]
        for (model, version), (_, error) in sorted(self._failed.items()):
            if model == name:
                entries.append({"version": str(version), "state": "END",
                                "status": {"error_code": "UNKNOWN", "error_message": error}})
        return entries

    def ready(self) -> bool:
        """True when every model has at least one version served."""
        with self._lock:
            return all(self._served.values())
