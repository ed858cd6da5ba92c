"""kzoo-serve's Prometheus metrics (prometheus_client), one registry per server.

Labels are bounded: model names come from the command line, versions and signatures from the
folders, error kinds from `ERROR_KINDS`; nothing a client sends becomes a label value unless it
names a served model.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ERROR_KINDS = ("bad_request", "unauthorized", "not_found", "too_large", "overloaded", "internal")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """The counters, histograms and gauges a team watches after launch."""

    def __init__(self):
        self.registry = CollectorRegistry()
        labels = ("model", "version", "signature")
        self.requests = Counter("kzoo_serve_requests", "Predict requests answered, by HTTP status code",
                                (*labels, "code"), registry=self.registry)
        self.errors = Counter("kzoo_serve_errors", "Refused or failed requests, by kind", ("model", "kind"),
                              registry=self.registry)
        self.latency = Histogram("kzoo_serve_request_latency_seconds", "Predict latency (body read to answer)",
                                 labels, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("kzoo_serve_rows", "Rows (instances) predicted", labels, registry=self.registry)
        self.batch_size = Histogram("kzoo_serve_batch_size", "Rows per batch the model ran (after batching)",
                                    labels, buckets=BATCH_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("kzoo_serve_in_flight", "Predict requests being answered now", registry=self.registry)
        self.versions = Gauge("kzoo_serve_model_versions", "Versions served now", ("model",), registry=self.registry)
        self.drift = Gauge("kzoo_serve_drift_psi", "Population stability index of a served signal against the "
                                                   "training profile", ("model", "version", "feature"),
                           registry=self.registry)

    def observe_batch(self, model: str, version: int, signature: str, rows: int) -> None:
        """Record one batch the model ran (called from the batching op's thread)."""
        self.batch_size.labels(model, str(version), signature).observe(rows)

    def error(self, model: str, kind: str) -> None:
        """Count one refused or failed request of `kind` (one of ERROR_KINDS)."""
        self.errors.labels(model or "-", kind).inc()
