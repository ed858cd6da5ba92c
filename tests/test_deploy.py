"""deploy/ agrees with kzoo-serve: every manifest parses, its container runs flags kzoo-serve accepts, its
probes ask routes the app answers without the API key, one port everywhere, grace periods above the drain.

No docker or kubectl: the files are read as YAML (and the Dockerfile line by line), the server's side
from `kzoo.cli.serve` and the FastAPI app itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kzoo.cli import serve

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
MANIFESTS = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


def documents() -> list[tuple[str, dict]]:
    """(file name, document) for every YAML document under deploy/."""
    return [(str(path.relative_to(DEPLOY)), doc) for path in MANIFESTS
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def annotations_of(doc: dict) -> dict:
    """A document's annotations and, for a Deployment, its pods'."""
    pod = doc.get("spec", {}).get("template", {}).get("metadata", {})
    return {**doc["metadata"].get("annotations", {}), **pod.get("annotations", {})}


def pod_specs() -> list[tuple[str, dict]]:
    """(file name, pod spec) of each Deployment and InferenceService predictor."""
    specs = []
    for name, doc in documents():
        if doc["kind"] == "Deployment":
            specs.append((name, doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "InferenceService":
            specs.append((name, doc["spec"]["predictor"]))
    return specs


def kzoo_containers() -> list[tuple[str, dict]]:
    return [(name, c) for name, spec in pod_specs() for c in spec["containers"] if c.get("command") == ["kzoo-serve"]]


def parsed(where: str, args: list[str]):
    try:
        return serve.build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{where}: kzoo-serve refuses the arguments {args} (stderr says which)")


def dockerfile() -> dict[str, str]:
    """The Dockerfile's instructions (continuation lines joined), the last of each kind."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines}


@pytest.fixture(scope="module")
def get_routes() -> set[str]:
    """The GET routes of kzoo-serve's app (built around no models: routes are fixed when it is made)."""
    from kzoo.serve.app import Limits, create_app
    from kzoo.serve.metrics import ServerMetrics

    app = create_app(repository=None, metrics=ServerMetrics(), limits=Limits(), api_key="k")
    return {route.path for route in app.routes if "GET" in getattr(route, "methods", ())}


@pytest.fixture(scope="module")
def open_routes(get_routes) -> set[str]:
    """The GET routes that answer without the API key (what a probe can ask)."""
    from kzoo.serve.app import OPEN_PATHS

    return get_routes & set(OPEN_PATHS)


def test_every_manifest_parses_and_names_its_kind():
    assert MANIFESTS and documents()
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "InferenceService"} <= kinds


def test_containers_run_flags_kzoo_serve_accepts():
    assert len(kzoo_containers()) == 2  # the Deployment's and the InferenceService's
    for name, container in kzoo_containers():
        args = parsed(name, container["args"])
        assert args.host == "0.0.0.0" and args.api_key_file and args.models, name
        mount = args.api_key_file.rsplit("/", 1)[0]
        assert any(m["mountPath"] == mount for m in container["volumeMounts"]), f"{name}: the API key is not mounted"
    entrypoint, cmd = dockerfile()["ENTRYPOINT"], dockerfile()["CMD"]
    assert json.loads(entrypoint) == ["kzoo-serve"]
    parsed("Dockerfile", json.loads(cmd))


def test_probes_ask_routes_the_app_answers_without_a_key(open_routes):
    assert {"/healthz", "/readyz"} <= open_routes
    for name, container in kzoo_containers():
        probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe") if kind in container}
        assert {"livenessProbe", "readinessProbe"} <= set(probes), name
        for kind, probe in probes.items():
            assert probe["httpGet"]["path"] in open_routes, f"{name}: {kind} asks {probe['httpGet']['path']}"
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz", name
    assert "/healthz" in dockerfile()["HEALTHCHECK"]


def test_metrics_are_scraped_from_the_metrics_route(get_routes):
    paths = set()
    for _, doc in documents():
        annotations = annotations_of(doc)
        paths |= {v for k, v in annotations.items() if k.startswith("prometheus") and k.endswith("/path")}
        if doc["kind"] == "PodMonitor":
            paths |= {e["path"] for e in doc["spec"]["podMetricsEndpoints"]}
    assert paths == {"/metrics"} and paths <= get_routes, paths


def test_one_port_everywhere():
    ports = set()
    for name, container in kzoo_containers():
        ports.add(parsed(name, container["args"]).port)
        ports |= {p["containerPort"] for p in container["ports"]}
        ports |= {container[k]["httpGet"]["port"] for k in ("startupProbe", "livenessProbe", "readinessProbe")
                  if k in container}
    for name, doc in documents():
        if doc["kind"] == "Service":
            ports |= {p["port"] for p in doc["spec"]["ports"]} | {p["targetPort"] for p in doc["spec"]["ports"]}
        annotations = annotations_of(doc)
        ports |= {int(v) for k, v in annotations.items() if k.endswith("/port")}
    docker = dockerfile()
    ports |= {int(docker["EXPOSE"]), parsed("Dockerfile", json.loads(docker["CMD"])).port}
    ports |= {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", docker["HEALTHCHECK"])}
    assert ports == {serve.DEFAULTS["port"]}, ports


def pre_stop_seconds(container: dict) -> float:
    """How long a `sleep N` preStop hook holds the SIGTERM back (0 without one)."""
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    return float(command[1]) if command[:1] == ["sleep"] else 0.0


def test_grace_periods_outlast_the_drain():
    for name, spec in pod_specs():
        hold = max(pre_stop_seconds(c) for c in spec["containers"])
        assert spec["terminationGracePeriodSeconds"] > hold + serve.DRAIN_SECONDS, name
