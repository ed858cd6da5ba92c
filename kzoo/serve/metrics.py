"""kzoo-serve's Prometheus metrics (prometheus_client), one registry per server.

Labels are bounded: model names come from the command line, versions and signatures from the
folders, error kinds from `ERROR_KINDS`; nothing a client sends becomes a label value unless it
names a served model.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily

from kzoo.serve.batching import BATCH_BOUNDS

ERROR_KINDS = ("bad_request", "unauthorized", "not_found", "too_large", "overloaded", "internal")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self.in_flight = Gauge("kzoo_serve_in_flight", "Predict requests being answered now", registry=self.registry)
        self.versions = Gauge("kzoo_serve_model_versions", "Versions served now", ("model",), registry=self.registry)
        self.drift = Gauge("kzoo_serve_drift_psi", "Population stability index of a served signal against the "
                                                   "training profile", ("model", "version", "feature"),
                           registry=self.registry)

    def watch_batches(self, repository) -> None:
        """Expose `kzoo_serve_batch_size`: rows per batch the model ran, read from the served versions' in-graph
        counters at each scrape (`BatchedSignature.batch_histogram`)."""
        self.registry.register(_BatchSizes(repository))

    def error(self, model: str, kind: str) -> None:
        """Count one refused or failed request of `kind` (one of ERROR_KINDS)."""
        self.errors.labels(model or "-", kind).inc()


class _BatchSizes:
    """A Prometheus collector over the batch-size counters the batching graphs keep (no Python in the batch path)."""

    def __init__(self, repository):
        self.repository = repository

    def collect(self):
        family = HistogramMetricFamily("kzoo_serve_batch_size", "Rows per batch the model ran (after batching)",
                                       labels=("model", "version", "signature"))
        for name in self.repository.bases:
            for version in self.repository.served_versions(name):
                loaded = self.repository.get(name, version)
                for signature, batched in (loaded.signatures.items() if loaded else ()):
                    counts, rows = batched.batch_histogram()
                    if not any(counts):
                        continue
                    cumulative, buckets = 0, []
                    for bound, count in zip([*map(str, BATCH_BOUNDS), "+Inf"], counts):
                        cumulative += count
                        buckets.append((bound, cumulative))
                    family.add_metric((name, str(version), signature), buckets, rows)
        yield family
