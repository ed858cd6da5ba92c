"""Put kzoo-serve together from checked settings: metrics, batching, the model table and the HTTP app."""

from __future__ import annotations

import logging
from pathlib import Path

from kzoo.serve.app import Limits, create_app
from kzoo.serve.batching import BatchOptions
from kzoo.serve.metrics import ServerMetrics
from kzoo.serve.repository import ModelRepository


def _drift_monitor(version_dir: Path):
    """A `DriftMonitor` over the version's training profile, or None for an export without one."""
    from kzoo.serve.drift import DriftMonitor, load_profile

    profile = load_profile(version_dir)
    return DriftMonitor(profile) if profile else None


def build_server(settings: dict):
    """(FastAPI app, ModelRepository) for `kzoo.cli.serve.settings_from`'s settings, every model loaded once."""
    # Each signature (and each `k`) is its own tf.function, which TensorFlow's retracing warning mistakes
    # for one function traced again and again.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    metrics = ServerMetrics()
    options = BatchOptions(max_batch_size=settings["max_batch_size"], timeout_ms=settings["batch_timeout_ms"],
                           max_enqueued_batches=settings["max_enqueued_batches"])
    repository = ModelRepository(settings["bases"], settings["policy"], options, make_monitor=_drift_monitor)
    metrics.watch_batches(repository)
    repository.poll()
    limits = Limits(max_body_bytes=settings["max_body_bytes"], max_rows=settings["max_rows"],
                    max_concurrency=settings["max_concurrency"], max_queued=settings["max_queued"])
    app = create_app(repository, metrics, limits, api_key=settings["api_key"], poll_s=settings["poll_seconds"])
    return app, repository
