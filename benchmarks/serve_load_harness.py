"""benchmarks/serve_load.py's harness: kzoo-serve as a subprocess, locust users against it, and the
numbers of a time window (counts, requests/s, latency percentiles, CPU).

Imported by the driver after locust has gevent-patched the process; nothing here loads TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RETRY_DELAY_S = 0.1  # a user's pause after a failed request (see serve_load.py)
READY_TIMEOUT_S = 600  # TensorFlow loading and warming a model on a busy 2-core machine


def child_env() -> dict:
    """The environment of a child process: this checkout's kzoo first on the path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict]:
    """(status, JSON) of a GET to the server; (0, {}) when nothing answers."""
    # imported here, after gevent's patching: urllib.request imports ssl, which gevent must patch first
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, {}
    except (OSError, ValueError):
        return 0, {}


def metric_total(port: int, name: str, **labels) -> float:
    """The sum of a Prometheus metric's samples on the server's /metrics whose labels include `labels`."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()))


class Server:
    """`tools/serve.py` as a subprocess serving one model on one port; restartable on the same port."""

    def __init__(self, name: str, base: Path, flags: list[str], log: Path):
        self.name, self.base, self.flags, self.log = name, base, flags, log
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.ready_s: float | None = None  # how long the last start took to answer /readyz

    @property
    def command(self) -> list[str]:
        return [sys.executable, "tools/serve.py", "--model", f"{self.name}={self.base}", "--port", str(self.port),
                *self.flags]

    def start(self) -> float:
        """Start it and wait for /readyz; returns the seconds that took."""
        started = time.time()
        with open(self.log, "a") as handle:
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT,
                                            env=child_env())
        while time.time() - started < READY_TIMEOUT_S:
            if self.process.poll() is not None:
                sys.exit(f"error: kzoo-serve exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if http(self.port, "/readyz")[0] == 200:
                self.ready_s = round(time.time() - started, 2)
                return self.ready_s
            time.sleep(0.2)
        self.process.kill()
        sys.exit(f"error: kzoo-serve was not ready within {READY_TIMEOUT_S} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM (the server drains, then exits 0); returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def rss_mb(self) -> float:
        """Resident memory of the server process, MiB (psutil, else /proc/PID/status)."""
        try:
            import psutil

            return psutil.Process(self.process.pid).memory_info().rss / 2**20
        except ImportError:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used, s."""
        import psutil

        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system


def _user_class(path: str, bodies: list[str]):
    """A locust user posting one-row bodies to `path` in a closed loop; an answer other than 200 fails."""
    from locust import FastHttpUser, constant, task

    class Client(FastHttpUser):
        wait_time = constant(0)
        connection_timeout = 10.0
        network_timeout = 120.0  # an answer slower than this fails (status 0): "hanging"

        def on_start(self):
            self.next = random.randrange(len(bodies))

        @task
        def predict(self):
            self.next += 1
            with self.client.post(path, data=bodies[self.next % len(bodies)], catch_response=True,
                                  headers={"Content-Type": "application/json"}) as answer:
                ok = answer.status_code == 200 and answer.content.startswith((b'{"predictions"', b'{"outputs"'))
                if not ok:
                    answer.failure(f"status {answer.status_code}")
            if not ok:
                time.sleep(RETRY_DELAY_S)

    return Client


class Load:
    """`users` locust users against the server on `port`, running from construction to `stop()`.

    `samples` holds (end time, response ms, status code, ok) for every request (status 0: no answer).
    """

    def __init__(self, port: int, payload: dict, users: int):
        from locust.env import Environment

        self.samples: list[tuple[float, float, int, bool]] = []
        user = _user_class(f"/v1/models/{payload['model']}:predict", payload["bodies"])
        self.env = Environment(user_classes=[user], host=f"http://127.0.0.1:{port}")
        self.env.events.request.add_listener(self._record)
        self.runner = self.env.create_local_runner()
        self.runner.start(users, spawn_rate=100)  # locust's advice: faster spawning can misbehave
        deadline = time.time() + users / 100 + 30
        while self.runner.user_count < users and time.time() < deadline:
            time.sleep(0.05)

    def _record(self, response_time, response=None, exception=None, **_):
        code = getattr(response, "status_code", 0) or 0
        self.samples.append((time.time(), response_time, code, exception is None))

    def stop(self) -> None:
        self.runner.quit()


def _percentile(ordered: list[float], q: float) -> float | None:
    """The nearest-rank percentile `q` of sorted values."""
    return round(ordered[max(0, math.ceil(len(ordered) * q) - 1)], 1) if ordered else None


def summarize(samples, start: float, end: float) -> dict:
    """Counts, successful requests/s and latency percentiles (successful requests, ms) of [start, end)."""
    inside = [s for s in samples if start <= s[0] < end]
    ok = sorted(s[1] for s in inside if s[3])
    codes: dict[str, int] = {}
    for sample in inside:
        codes[str(sample[2])] = codes.get(str(sample[2]), 0) + 1
    return {"seconds": round(end - start, 2), "requests": len(inside), "errors": len(inside) - len(ok),
            "codes": codes, "rps": round(len(ok) / (end - start), 1) if end > start else 0.0,
            "p50_ms": _percentile(ok, 0.50), "p95_ms": _percentile(ok, 0.95), "p99_ms": _percentile(ok, 0.99),
            "max_ms": round(ok[-1], 1) if ok else None}


class CpuMeter:
    """Cores the load generator (this process) and the server used between construction and `read()`."""

    def __init__(self, server: Server):
        self.server = server
        self.wall, self.mine, self.its = time.time(), time.process_time(), server.cpu_seconds()

    def read(self) -> dict:
        wall = time.time() - self.wall
        return {"generator_cores": round((time.process_time() - self.mine) / wall, 2),
                "server_cores": round((self.server.cpu_seconds() - self.its) / wall, 2)}
