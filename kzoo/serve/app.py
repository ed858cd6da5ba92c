"""kzoo-serve's HTTP front: TF Serving's REST API on FastAPI (served by uvicorn).

This module is the one place that knows the web framework; the model table (`repository`), the
batching (`batching`), the request format (`protocol`) and the metrics (`metrics`) do not import it.

Routes (TF Serving's, so a client written for it works unchanged):
- `POST /v1/models/NAME[/versions/N]:predict` — `instances` or `inputs`, optional `signature_name`;
- `GET /v1/models/NAME[/versions/N]` — version status; `GET /v1/models/NAME[/versions/N]/metadata` —
  signature definitions;
- `GET /v1/models/NAME[/versions/N]/monitoring` — kzoo's: request counts and the drift report;
- `GET /healthz` (live), `GET /readyz` (every model has a version, not draining), also as
  `/v2/health/live` and `/v2/health/ready`; `GET /metrics` — Prometheus.

Every refusal is a JSON `{"error": "..."}` with a 4xx (503 when shedding load); an unexpected
failure is a 500 with a fixed message, its traceback only in the server's log.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass

import anyio
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from kzoo.errors import RequestError
from kzoo.serve import protocol
from kzoo.serve.metrics import ServerMetrics
from kzoo.serve.repository import LoadedVersion, ModelRepository

log = logging.getLogger("kzoo.serve")

OPEN_PATHS = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready")


@dataclass(frozen=True)
class Limits:
    """What one request and the whole server may take: body bytes, rows, concurrent and queued requests."""

    max_body_bytes: int = 10 * 1024 * 1024
    max_rows: int = 1024
    max_concurrency: int = 64
    max_queued: int = 256


class Gate:
    """Admits at most `max_concurrency + max_queued` predict requests; the rest are shed with a 503."""

    def __init__(self, limits: Limits):
        self._open = limits.max_concurrency + limits.max_queued
        self._count = 0
        self._lock = threading.Lock()
        self.limiter = anyio.CapacityLimiter(limits.max_concurrency)

    def enter(self) -> bool:
        with self._lock:
            if self._count >= self._open:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


def create_app(repository: ModelRepository, metrics: ServerMetrics, limits: Limits,
               api_key: str | None = None, poll_s: float = 2.0) -> FastAPI:
    """The FastAPI application serving `repository`; `api_key` (when set) is required on every other path."""
    state = {"draining": False}
    gate = Gate(limits)

    async def lifespan(app):
        repository.poll()
        repository.start_watching(poll_s)
        yield
        state["draining"] = True
        repository.stop()

    app = FastAPI(title="kzoo-serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if api_key and request.url.path not in OPEN_PATHS and not _authorised(request, api_key):
            metrics.error("", "unauthorized")
            return _error(401, "missing or wrong API key: send 'Authorization: Bearer KEY' (or 'X-API-Key: KEY')")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limits.max_body_bytes):
            metrics.error("", "too_large")
            return _error(413, f"request body of {length} bytes; at most {limits.max_body_bytes} (--max-body-bytes)")
        return await call_next(request)

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError):
        return _error(err.status, str(err))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        detail = err.detail if err.status_code != 404 else (
            f"no route {request.method} {request.url.path}: see GET /v1/models/NAME, "
            f"POST /v1/models/NAME[/versions/N]:predict")
        return _error(err.status_code, str(detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        return _error(400, f"bad request: {err.errors()[0].get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception):
        log.exception("kzoo-serve: %s %s failed", request.method, request.url.path)
        metrics.error("", "internal")
        return _error(500, "internal error while answering; the server's log has the details")

    @app.get("/healthz")
    @app.get("/v2/health/live")
    async def live():
        return {"live": True}

    @app.get("/readyz")
    @app.get("/v2/health/ready")
    async def ready():
        is_ready = repository.ready() and not state["draining"]
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/metrics")
    async def prometheus():
        for name in repository.bases:
            metrics.versions.labels(name).set(len(repository.served_versions(name)))
            served = repository.get(name)
            if served is not None and served.monitor is not None:
                for feature, entry in served.monitor.report().get("features", {}).items():
                    if entry.get("psi") is not None:
                        metrics.drift.labels(name, str(served.version), feature).set(entry["psi"])
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def served(name: str, version: str | None) -> LoadedVersion:
        if name not in repository.bases:
            metrics.error("", "not_found")
            raise RequestError(404, f"model {name!r} is not served; served models: {sorted(repository.bases)}")
        number = None
        if version is not None:
            if not version.isdigit():
                raise RequestError(400, f"version {version!r} must be a positive integer")
            number = int(version)
        found = repository.get(name, number)
        if found is None:
            metrics.error(name, "not_found")
            raise RequestError(404, f"model {name!r} has no version {version} served; served versions: "
                                    f"{repository.served_versions(name)}" if version else
                               f"model {name!r} has no version loaded yet")
        return found

    async def predict(request: Request, name: str, version: str | None = None):
        started = time.perf_counter()
        model = served(name, version)
        if not gate.enter():
            metrics.error(name, "overloaded")
            return _error(503, f"overloaded: more than {limits.max_concurrency + limits.max_queued} requests in "
                               f"flight; retry later", headers={"Retry-After": "1"})
        metrics.in_flight.inc()
        try:
            body = await _read_body(request, limits.max_body_bytes, metrics, name)
            specs = {s: b.input_specs for s, b in model.signatures.items()}
            try:
                signature, inputs, form = protocol.parse_request(body, specs, limits.max_rows)
            except RequestError as err:
                metrics.error(name, "too_large" if err.status == 413 else "bad_request")
                raise
            outputs = await anyio.to_thread.run_sync(_run, model, signature, inputs, limiter=gate.limiter)
            answer = protocol.format_response(outputs, form)
            labels = (name, str(model.version), signature)
            metrics.requests.labels(*labels, "200").inc()
            metrics.rows.labels(*labels).inc(len(next(v for v in inputs.values() if v.ndim)))
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)
            if model.monitor is not None:
                model.monitor.observe(signature, inputs, outputs)
            return JSONResponse(answer)
        except _Overloaded as err:
            metrics.error(name, "overloaded")
            return _error(503, str(err), headers={"Retry-After": "1"})
        finally:
            metrics.in_flight.dec()
            gate.leave()

    async def status(name: str, version: str | None = None):
        if name not in repository.bases:
            raise RequestError(404, f"model {name!r} is not served; served models: {sorted(repository.bases)}")
        entries = repository.status(name)
        if version is not None:
            entries = [e for e in entries if e["version"] == version]
            if not entries:
                raise RequestError(404, f"model {name!r} has no version {version}; served versions: "
                                        f"{repository.served_versions(name)}")
        return {"model_version_status": entries}

    async def metadata(name: str, version: str | None = None):
        model = served(name, version)
        return {"model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
                "metadata": {"signature_def": {"signature_def": {
                    s: _signature_def(b) for s, b in model.signatures.items()}}},
                "kzoo": {k: v for k, v in model.metadata.items() if k in ("entry", "task", "class_names",
                                                                           "quantization")}}

    async def monitoring(name: str, version: str | None = None):
        model = served(name, version)
        report = model.monitor.report() if model.monitor is not None else {
            "features": {}, "note": "this export has no training profile: " + model.metadata.get(
                "training_profile_reason", "it was written before exports recorded one")}
        return {"model": name, "version": model.version, "loaded_at": model.loaded_at, "drift": report}

    for path, handler, method in (
            ("/v1/models/{name}:predict", predict, "POST"),
            ("/v1/models/{name}/versions/{version}:predict", predict, "POST"),
            ("/v1/models/{name}", status, "GET"),
            ("/v1/models/{name}/versions/{version}", status, "GET"),
            ("/v1/models/{name}/metadata", metadata, "GET"),
            ("/v1/models/{name}/versions/{version}/metadata", metadata, "GET"),
            ("/v1/models/{name}/monitoring", monitoring, "GET"),
            ("/v1/models/{name}/versions/{version}/monitoring", monitoring, "GET")):
        app.add_api_route(path, handler, methods=[method])
    return app


class _Overloaded(Exception):
    """The batching queue of the signature is full (TensorFlow's UnavailableError)."""


def _run(model: LoadedVersion, signature: str, inputs: dict) -> dict:
    """Run one request through the version's batched signature (on a server thread)."""
    try:
        return protocol.trim_padding(model.signatures[signature](inputs))
    except tf.errors.UnavailableError as err:
        raise _Overloaded(f"overloaded: the batching queue of {model.name!r} is full; retry later") from err
    except tf.errors.InvalidArgumentError as err:
        # the graph's own checks (e.g. `k` must be >= 0, paired inputs of one length): the client's mistake
        raise RequestError(400, f"the model refused the inputs: {_graph_message(err.message)}") from None


_NOISE = ("Graph execution error", "Detected at node", "<stack traces", "File ", "[[")


def _graph_message(message: str) -> str:
    """The line of a TensorFlow error that says what was wrong (an assertion's own text when it has one)."""
    for line in message.splitlines():
        line = line.strip()
        if line and not line.startswith(_NOISE):
            assertion = re.match(r"assertion failed: \[(.*?)\]", line)
            return (assertion.group(1).strip() if assertion else line)[:300]
    return "invalid argument"


async def _read_body(request: Request, limit: int, metrics: ServerMetrics, name: str):
    """The JSON body, read up to `limit` bytes (a chunked body without Content-Length is counted as it comes)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            metrics.error(name, "too_large")
            raise RequestError(413, f"request body over {limit} bytes (--max-body-bytes)")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        metrics.error(name, "bad_request")
        raise RequestError(400, f"the request body is not valid JSON: {err}") from None


def _authorised(request: Request, api_key: str) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    return hmac.compare_digest(given.encode(), api_key.encode())


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _signature_def(batched) -> dict:
    """A signature as TF Serving's metadata API describes it (dtype names, dims with -1 for any size)."""
    def tensor(name, spec):
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
        return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}

    inputs = {n: tensor(n, s) for n, s in batched.input_specs.items()}
    outputs = {n: tensor(n, s) for n, s in batched.output_specs.items()}
    return {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}

