"""kzoo-serve end to end: a server in a subprocess on a free port, spoken to over HTTP.

One server (bound to 0.0.0.0 with an API key) serves tiny `lstm` (text), `cnn` (images) and `gmf`
(recommender) exports; a second, slow one (batches wait 1.5 s, two requests at most) shows load
shedding and the SIGTERM drain.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests._runs import tiny_run

KEY = "test-key-123"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, path, body=None, key=KEY, method=None, raw: bytes | None = None):
    """(status, decoded JSON or text) of one HTTP request to the server on `port`."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def start_server(args, env=None) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "serve.py"), "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env={**os.environ, **(env or {})})
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kzoo-serve exited {process.returncode}:\n{process.stdout.read()}")
        try:
            if call(port, "/readyz", key=None)[0] == 200:
                return process, port
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError("kzoo-serve did not become ready in 120 s")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{entry: base folder with version 1} for tiny lstm, cnn and gmf runs."""
    bases = {}
    for entry in ("lstm", "cnn", "gmf"):
        run = tiny_run(tmp_path_factory, entry)
        base = tmp_path_factory.mktemp(f"{entry}-models")
        shutil.copytree(run / "export" / "1", base / "1")
        bases[entry] = base
    return bases


@pytest.fixture(scope="module")
def server(exports):
    args = ["--host", "0.0.0.0", "--poll-seconds", "0.3"]
    for entry, base in exports.items():
        args += ["--model", f"{entry}={base}"]
    process, port = start_server(args, env={"KZOO_SERVE_API_KEY": KEY})
    yield port
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def direct(base: Path, signature: str, **inputs) -> dict:
    """The export's signature called in this process: the answer the server must give."""
    loaded = tf.saved_model.load(str(max(base.iterdir(), key=lambda p: int(p.name))))
    return {k: v.numpy() for k, v in loaded.signatures[signature](**inputs).items()}


def test_every_signature_answers_as_the_saved_model_does(server, exports):
    texts = ["a fine film with a fine cast", "dull", "not good at all, the worst"]
    expected = direct(exports["lstm"], "serving_default", text=tf.constant(texts))
    status, answer = call(server, "/v1/models/lstm:predict", {"instances": texts})
    assert status == 200, answer
    np.testing.assert_allclose([row["probabilities"] for row in answer["predictions"]], expected["probabilities"],
                               rtol=1e-5, atol=1e-6)
    assert [row["label"] for row in answer["predictions"]] == expected["label"].tolist()

    images = np.random.default_rng(0).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    for signature, batch in (("serving_default", images), ("serve_nhwc", images[..., None])):
        expected = direct(exports["cnn"], signature, image=tf.constant(batch))
        status, answer = call(server, "/v1/models/cnn:predict",
                              {"signature_name": signature, "inputs": {"image": batch.tolist()}})
        assert status == 200, answer
        np.testing.assert_allclose(answer["outputs"]["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6)

    users, items = [1, 2, 3], [4, 5, 6]
    expected = direct(exports["gmf"], "serving_default", user_id=tf.constant(users, tf.int64),
                      item_id=tf.constant(items, tf.int64))
    status, answer = call(server, "/v1/models/gmf:predict",
                          {"instances": [{"user_id": u, "item_id": i} for u, i in zip(users, items)]})
    assert status == 200, answer
    np.testing.assert_allclose(answer["predictions"], expected["score"], rtol=1e-5)  # one output: bare values
    for signature in ("recommend", "recommend_including_seen"):
        expected = direct(exports["gmf"], signature, user_id=tf.constant(users, tf.int64), k=tf.constant(3))
        status, answer = call(server, "/v1/models/gmf:predict",
                              {"signature_name": signature, "inputs": {"user_id": users, "k": 3}})
        assert status == 200, answer
        assert answer["outputs"]["item_ids"] == expected["item_ids"].tolist()
        np.testing.assert_allclose(answer["outputs"]["scores"], expected["scores"], rtol=1e-5)
        assert answer["outputs"]["fallback"] == expected["fallback"].tolist()


def test_an_unbatched_signature_is_built_once_not_per_request(exports, monkeypatch):
    # --max-batch-size 0 once built (and so traced) a new tf.function for every request: ~120 ms a call
    from kzoo.serve.batching import BatchedSignature, BatchOptions

    loaded = tf.saved_model.load(str(exports["lstm"] / "1"))
    signature = BatchedSignature(loaded.signatures["serving_default"], BatchOptions(max_batch_size=0))
    built, function = [], tf.function
    monkeypatch.setattr(tf, "function", lambda *args, **kwargs: built.append(1) or function(*args, **kwargs))
    answers = [signature({"text": np.array([b"a fine film"], dtype=object)}) for _ in range(3)]
    assert len(built) == 1
    expected = direct(exports["lstm"], "serving_default", text=tf.constant(["a fine film"]))
    np.testing.assert_allclose(answers[-1]["probabilities"], expected["probabilities"], rtol=1e-5, atol=1e-6)


def test_row_and_columnar_forms_and_status_and_metadata(server):
    status, rows = call(server, "/v1/models/lstm:predict", {"instances": [{"text": "great"}, {"text": "bad"}]})
    status2, columns = call(server, "/v1/models/lstm/versions/1:predict", {"inputs": {"text": ["great", "bad"]}})
    assert status == status2 == 200
    assert [r["label"] for r in rows["predictions"]] == columns["outputs"]["label"]
    assert call(server, "/v1/models/lstm:predict", {"inputs": ["great", "bad"]})[1]["outputs"]["label"] == \
        columns["outputs"]["label"]  # a single input may be given bare
    status, answer = call(server, "/v1/models/gmf")
    assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"
    status, meta = call(server, "/v1/models/gmf/metadata")
    signature = meta["metadata"]["signature_def"]["signature_def"]["recommend"]
    assert signature["inputs"]["k"]["dtype"] == "DT_INT32" and signature["outputs"]["item_ids"]["dtype"] == "DT_INT64"


@pytest.mark.parametrize("path, body, status, words", [
    ("/v1/models/nope:predict", {"instances": ["x"]}, 404, ["'nope'", "served models"]),
    ("/v1/models/lstm/versions/9:predict", {"instances": ["x"]}, 404, ["version 9", "served versions: [1]"]),
    ("/v1/models/lstm:predict", {"instances": [1, 2]}, 400, ["instances.text", "text"]),
    ("/v1/models/lstm:predict", {"inputs": {"txt": ["x"]}}, 400, ["unknown input 'txt'", "['text']"]),
    ("/v1/models/lstm:predict", {"instances": ["x"], "inputs": ["x"]}, 400, ["exactly one of"]),
    ("/v1/models/lstm:predict", {"instances": []}, 400, ["no rows"]),
    ("/v1/models/lstm:predict", {"signature_name": "sv", "instances": ["x"]}, 400, ["'sv'", "serving_default"]),
    ("/v1/models/lstm:predict", [1, 2], 400, ["JSON object"]),
    ("/v1/models/cnn:predict", {"inputs": {"image": [[1, 2, 3]]}}, 400, ["inputs.image", "shape [1, 3]",
                                                                         "uint8 [N, 28, 28]"]),
    ("/v1/models/cnn:predict", {"inputs": {"image": np.full((1, 28, 28), 300).tolist()}}, 400, ["[0, 255]"]),
    ("/v1/models/gmf:predict", {"signature_name": "recommend", "inputs": {"user_id": [1], "k": -1}}, 400,
     ["k must be >= 0"]),
    ("/v1/models/gmf:predict", {"signature_name": "recommend", "inputs": {"user_id": [1]}}, 400, ["missing input 'k'"]),
    ("/v1/models/gmf:predict", {"inputs": {"user_id": [1, 2], "item_id": [1]}}, 400, ["same number of rows"]),
    ("/v1/models/gmf:predict", {"inputs": {"user_id": [1.5], "item_id": [1]}}, 400, ["1.5 is not an integer"]),
    ("/v1/models/lstm:predict", {"instances": ["x"] * 1025}, 413, ["1025 rows", "1024"]),
    ("/v1/nothing", None, 404, ["no route"]),
])
def test_bad_requests_get_a_4xx_naming_the_field(server, path, body, status, words):
    got, answer = call(server, path, body, method="POST" if body is not None else "GET")
    assert got == status, answer
    assert set(answer) == {"error"} and "Traceback" not in answer["error"]
    for word in words:
        assert word in answer["error"], answer


def test_malformed_json_and_an_oversized_body(server):
    status, answer = call(server, "/v1/models/lstm:predict", raw=b'{"instances": [')
    assert status == 400 and "not valid JSON" in answer["error"]
    # The server answers from the header, before reading the body (a client sending 11 MiB would be cut off)
    with socket.create_connection(("127.0.0.1", server)) as connection:
        connection.sendall(f"POST /v1/models/lstm:predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
                           f"Content-Length: {11 * 1024 * 1024}\r\n\r\n".encode())
        connection.settimeout(30)
        reply = b""
        while b"}" not in reply:
            chunk = connection.recv(65536)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "--max-body-bytes" in reply


def test_an_unauthenticated_request_is_refused(server):
    status, answer = call(server, "/v1/models/lstm:predict", {"instances": ["x"]}, key=None)
    assert status == 401 and "API key" in answer["error"]
    assert call(server, "/v1/models/lstm:predict", {"instances": ["x"]}, key="wrong")[0] == 401
    assert call(server, "/metrics", key=None)[0] == 401
    assert call(server, "/healthz", key=None)[0] == 200  # probes stay open


def test_a_non_local_bind_without_a_key_is_refused_before_loading(exports):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "serve.py"), "--host", "0.0.0.0",
                           "--model", f"lstm={exports['lstm']}"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "KZOO_SERVE_API_KEY"}, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "API key" in done.stderr


def _metric(port, name: str, **labels) -> float:
    text = call(port, "/metrics")[1]
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_what_was_sent(server):
    before = _metric(server, "kzoo_serve_requests_total", model="cnn", signature="serve_nhwc", code="200")
    errors_before = _metric(server, "kzoo_serve_errors_total", model="cnn", kind="bad_request")
    image = np.zeros((1, 28, 28, 1), np.uint8).tolist()
    for _ in range(3):
        assert call(server, "/v1/models/cnn:predict", {"signature_name": "serve_nhwc", "instances": image})[0] == 200
    for _ in range(2):
        assert call(server, "/v1/models/cnn:predict", {"instances": [[1]]})[0] == 400
    assert _metric(server, "kzoo_serve_requests_total", model="cnn", signature="serve_nhwc", code="200") == before + 3
    assert _metric(server, "kzoo_serve_errors_total", model="cnn", kind="bad_request") == errors_before + 2
    assert _metric(server, "kzoo_serve_request_latency_seconds_count", model="cnn", signature="serve_nhwc") >= 3
    assert _metric(server, "kzoo_serve_batch_size_count", model="cnn", signature="serve_nhwc") >= 3


def test_concurrent_requests_are_batched(server):
    before = _metric(server, "kzoo_serve_batch_size_count", model="lstm", signature="serving_default")
    results = []

    def client(i):
        for _ in range(5):
            results.append(call(server, "/v1/models/lstm:predict", {"instances": [f"review {i}"]})[0])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == [200] * 80
    batches = _metric(server, "kzoo_serve_batch_size_count", model="lstm", signature="serving_default") - before
    assert batches < 80  # 80 one-row requests ran in fewer model calls


def test_a_new_version_is_swapped_in_under_load_without_a_failed_request(server, exports):
    base = exports["gmf"]
    failures, answers, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            status, answer = call(server, "/v1/models/gmf:predict",
                                  {"signature_name": "recommend", "inputs": {"user_id": [1], "k": 2}})
            (answers if status == 200 else failures).append(answer)

    threads = [threading.Thread(target=client) for _ in range(6)]
    [t.start() for t in threads]
    time.sleep(1.0)
    staging = base / ".staging-2"
    shutil.copytree(base / "1", staging)
    staging.rename(base / "2")  # appears whole, as a copy-then-rename deploy makes it
    deadline = time.time() + 60
    while time.time() < deadline and call(server, "/v1/models/gmf")[1]["model_version_status"][0]["version"] != "2":
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    [t.join() for t in threads]
    assert not failures, failures[:3]
    assert len(answers) > 20
    status = call(server, "/v1/models/gmf")[1]["model_version_status"]
    assert [entry["version"] for entry in status] == ["2"]  # the latest policy retired version 1
    assert call(server, "/v1/models/gmf/versions/1:predict", {"inputs": {"user_id": [1], "item_id": [1]}})[0] == 404


def test_overload_is_shed_and_sigterm_drains_in_flight_requests(exports):
    process, port = start_server(["--model", f"lstm={exports['lstm']}", "--batch-timeout-ms", "1500",
                                  "--max-concurrency", "2", "--max-queued", "0"])
    results = []

    def client():
        results.append(call(port, "/v1/models/lstm:predict", {"instances": ["slow"]}, key=None))

    threads = [threading.Thread(target=client) for _ in range(5)]
    [t.start() for t in threads]
    time.sleep(0.7)  # the admitted ones are waiting for their batch to fill
    process.send_signal(signal.SIGTERM)
    [t.join() for t in threads]
    assert process.wait(timeout=60) == 0
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 503}, results
    assert statuses.count(503) >= 3  # 2 admitted, the rest shed
    assert all("overloaded" in answer["error"] for status, answer in results if status == 503)


def test_drift_moves_when_the_inputs_are_skewed(server):
    """The tiny lstm trained on 40-word synthetic reviews: the same length shows no drift, 120 words does."""
    def send(words: int):
        for _ in range(5):  # 5,000 rows: the monitor's whole window
            status, answer = call(server, "/v1/models/lstm:predict", {"instances": [" ".join(["film"] * words)] * 1000})
            assert status == 200, answer

    send(40)
    report = call(server, "/v1/models/lstm/monitoring")[1]["drift"]
    assert report["features"]["serving_default/text_words"]["psi"] < 0.1
    send(120)
    report = call(server, "/v1/models/lstm/monitoring")[1]["drift"]
    assert report["features"]["serving_default/text_words"]["psi"] > 0.25 and report["alert"]
    psi = _metric(server, "kzoo_serve_drift_psi", model="lstm", feature="serving_default/text_words")
    assert psi > 0.25


def test_requests_of_different_widths_are_batched_apart(tmp_path):
    """A `[None, None]` input (sasrec's histories) cannot be concatenated across widths: each width has its queue."""
    from kzoo.serve.batching import BatchedSignature, BatchOptions

    module = tf.Module()
    module.count = tf.function(lambda item_ids: {"total": tf.reduce_sum(item_ids, axis=1)},
                               input_signature=[tf.TensorSpec([None, None], tf.int64, name="item_ids")])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.count})
    signature = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    batched = BatchedSignature(signature, BatchOptions(max_batch_size=8, timeout_ms=200))
    answers = {}

    def call_with(width):
        answers[width] = batched({"item_ids": np.ones((1, width), np.int64)})["total"].tolist()

    threads = [threading.Thread(target=call_with, args=(w,)) for w in (2, 3, 5)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert answers == {2: [2], 3: [3], 5: [5]}
    counts, rows = batched.batch_histogram()
    assert sum(counts) == 3 and rows == 3  # three batches of one row each, counted in the graph
