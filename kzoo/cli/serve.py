"""`kzoo-serve`: serve kzoo exports over TF Serving's REST API, batched and monitored.

    kzoo-serve --model imdb=runs/lstm/export --model movies=runs/gmf/export
    curl -s localhost:8501/v1/models/imdb:predict -d '{"instances": ["a fine film"]}'

Every argument is checked before TensorFlow loads; a bad one is one line and exit status 2. SIGTERM
(or Ctrl-C) stops accepting connections, answers the requests in flight, and exits 0.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import yaml

from kzoo.cli.common import add_verbose_argument, framework_start, run_tool
from kzoo.cli.predict import Parser
from kzoo.errors import UsageError

API_KEY_ENV = "KZOO_SERVE_API_KEY"
DRAIN_SECONDS = 30  # after SIGTERM, requests in flight get this long (deploy/: the grace periods exceed it)


def build_parser() -> Parser:
    """kzoo-serve's argument parser."""
    parser = Parser(prog="kzoo-serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", dest="models", action="append", default=[], metavar="NAME=DIR",
                        help="a model to serve: NAME in the URL, DIR a folder of numbered versions (an export/ "
                             "folder or a run directory); repeatable")
    parser.add_argument("--config", help="a YAML file: 'models: {NAME: DIR}' and any of these flags as keys "
                                         "(max_batch_size: 32); flags given on the command line win")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; any other needs an API key)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8501, TF Serving's REST port)")
    parser.add_argument("--api-key-file", default=None,
                        help=f"a file holding the API key clients send as 'Authorization: Bearer KEY' (or set "
                             f"${API_KEY_ENV}); required to bind anything but loopback")
    parser.add_argument("--version-policy", default=None,
                        help="latest (default), latest:N, or specific:V1,V2 — as TF Serving's model_version_policy")
    parser.add_argument("--poll-seconds", type=float, default=None,
                        help="how often the version folders are scanned for new versions (default 2)")
    parser.add_argument("--max-batch-size", type=int, default=None,
                        help="rows per model call when batching concurrent requests (default 64; 0 = no batching)")
    parser.add_argument("--batch-timeout-ms", type=float, default=None,
                        help="how long a batch waits to fill (default 2 ms)")
    parser.add_argument("--max-enqueued-batches", type=int, default=None,
                        help="batches waiting per signature before requests get 503 (default 64)")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="requests in the model at once (default 64)")
    parser.add_argument("--max-queued", type=int, default=None,
                        help="requests waiting beyond those; more get 503 (default 256)")
    parser.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default 10 MiB)")
    parser.add_argument("--max-rows", type=int, default=None, help="most instances in one request (default 1024)")
    add_verbose_argument(parser)
    return parser


DEFAULTS = {"host": "127.0.0.1", "port": 8501, "version_policy": "latest", "poll_seconds": 2.0,
            "max_batch_size": 64, "batch_timeout_ms": 2.0, "max_enqueued_batches": 64, "max_concurrency": 64,
            "max_queued": 256, "max_body_bytes": 10 * 1024 * 1024, "max_rows": 1024, "api_key_file": None}
_POSITIVE = ("port", "max_concurrency", "max_body_bytes", "max_rows", "max_enqueued_batches")


def settings_from(args) -> dict:
    """The checked settings: command line over `--config` over DEFAULTS; UsageError naming a bad one."""
    from_file = _read_config(args.config) if args.config else {}
    models = dict(from_file.pop("models", {}) or {})
    settings = {}
    for key, default in DEFAULTS.items():
        given = getattr(args, key)
        settings[key] = given if given is not None else from_file.pop(key, default)
    if from_file:
        raise UsageError(f"--config {args.config}: unknown key {sorted(from_file)[0]!r}; valid: models, "
                         f"{', '.join(DEFAULTS)}")
    for key in _POSITIVE:
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, got {settings[key]!r}")
    for key in ("max_batch_size", "max_queued"):
        if not isinstance(settings[key], int) or settings[key] < 0:
            raise UsageError(f"--{key.replace('_', '-')} must be an integer >= 0, got {settings[key]!r}")
    for key in ("poll_seconds", "batch_timeout_ms"):
        if not isinstance(settings[key], (int, float)) or settings[key] <= 0:
            raise UsageError(f"--{key.replace('_', '-')} must be a number > 0, got {settings[key]!r}")
    if settings["port"] > 65535:
        raise UsageError(f"--port must be at most 65535, got {settings['port']}")
    specs = [f"{n}={d}" for n, d in models.items()] + list(args.models)
    if not specs:
        raise UsageError("name at least one model: --model NAME=DIR (e.g. --model imdb=runs/lstm/export)")
    from kzoo.serve.folders import VersionPolicy, parse_model_spec

    bases = {}
    for spec in specs:
        name, base = parse_model_spec(spec)
        if name in bases:
            raise UsageError(f"--model {spec!r}: the name {name!r} is given twice")
        bases[name] = base
    settings["bases"] = bases
    settings["policy"] = VersionPolicy.parse(settings["version_policy"])
    settings["api_key"] = _api_key(settings["api_key_file"])
    if not _is_loopback(settings["host"]) and not settings["api_key"]:
        raise UsageError(f"--host {settings['host']} is reachable from other machines: give an API key "
                         f"(--api-key-file FILE or ${API_KEY_ENV}), or bind 127.0.0.1")
    _check_port_free(settings["host"], settings["port"])
    return settings


def _read_config(path: str) -> dict:
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"--config {path}: cannot read it ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--config {path}: expected a mapping with 'models: {{NAME: DIR}}'")
    if not isinstance(loaded.get("models", {}), dict):
        raise UsageError(f"--config {path}: 'models' must map names to folders")
    return dict(loaded)


def _api_key(path: str | None) -> str | None:
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise UsageError(f"--api-key-file {path}: {err.strerror}") from None
        if not key:
            raise UsageError(f"--api-key-file {path} is empty")
        return key
    return os.environ.get(API_KEY_ENV) or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UsageError(f"cannot listen on {host}:{port}: {err.strerror} (--host, --port)") from None


def main(argv=None) -> int:
    """Parse, check, load every model, then serve until SIGTERM / Ctrl-C; returns the exit status."""
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with framework_start(args.verbose):
        import uvicorn

        from kzoo.serve.server import build_server

        app, repository = build_server(settings)
    missing = [name for name in settings["bases"] if not repository.served_versions(name)]
    if missing:
        errors = "; ".join(e["status"]["error_message"] for e in repository.status(missing[0]))
        raise UsageError(f"model {missing[0]!r}: no version could be loaded ({errors or 'none on disk'})")
    print(f"kzoo-serve: serving {', '.join(f'{n} (versions {repository.served_versions(n)})' for n in settings['bases'])}"
          f" on http://{settings['host']}:{settings['port']}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=settings["host"], port=settings["port"], log_level="warning",
                            timeout_graceful_shutdown=DRAIN_SECONDS,
                            # kzoo-serve's own gate sheds predict requests (JSON 503 with Retry-After); uvicorn's
                            # limit is only a last resort for connections, far above it: uvicorn counts requests
                            # not yet cleaned up, and would refuse even the health probes under load.
                            limit_concurrency=4 * (settings["max_concurrency"] + settings["max_queued"]) + 256)
    _draining_server_class()(config).run()
    return 0


def _draining_server_class():
    import uvicorn

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, but a SIGTERM that has drained the requests in flight ends with exit status 0.

        uvicorn re-raises a captured signal after its graceful shutdown, so the process would die of SIGTERM
        (status 143); orchestrators (Kubernetes, systemd) read 0 as a clean stop.
        """

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            captured = getattr(self, "_captured_signals", None)
            if sig == signal.SIGTERM and captured and captured[-1] == sig:
                captured.pop()

    return DrainingServer


def run(argv=None) -> None:
    """Console-script entry point."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
