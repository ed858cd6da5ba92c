"""Start N local worker processes of one command, each with its own `TF_CONFIG` (multi-worker on one host).

On a real cluster every machine runs the same command with its own `TF_CONFIG` (or under SLURM,
where `SlurmClusterResolver` reads the cluster from the SLURM variables); this module does the
same for N processes on 127.0.0.1, which is how the multi-worker path is tested.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Sequence


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports that were free a moment ago on 127.0.0.1."""
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def tf_config(hosts: Sequence[str], index: int) -> str:
    """Return the `TF_CONFIG` JSON for worker `index` of a cluster of `hosts` ("host:port")."""
    return json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": index}})


def _relay(stream, prefix: str, sink) -> None:
    for line in iter(stream.readline, ""):
        sink.write(f"{prefix}{line}")
        sink.flush()
    stream.close()


def launch_local(command: Sequence[str], workers: int, *, env: dict | None = None,
                 timeout: float | None = None, ports: Sequence[int] | None = None,
                 cpu_threads: int | None = None) -> list[int]:
    """Run `command` as `workers` processes on 127.0.0.1, one `TF_CONFIG` each; return their exit codes.

    Output lines are prefixed `[w<i>]`. When one worker fails, the others are stopped (a collective
    would otherwise wait for the dead peer until its timeout). `cpu_threads` caps each worker's
    TensorFlow thread pools, so N workers on one machine do not oversubscribe its cores.
    Raises ValueError for `workers < 1`.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    ports = list(ports or free_ports(workers))
    hosts = [f"127.0.0.1:{p}" for p in ports]
    procs, relays = [], []
    for index in range(workers):
        worker_env = dict(os.environ if env is None else env)
        worker_env["TF_CONFIG"] = tf_config(hosts, index)
        if cpu_threads:
            worker_env["TF_NUM_INTEROP_THREADS"] = worker_env["TF_NUM_INTRAOP_THREADS"] = str(cpu_threads)
        proc = subprocess.Popen(list(command), env=worker_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        thread = threading.Thread(target=_relay, args=(proc.stdout, f"[w{index}] ", sys.stdout), daemon=True)
        thread.start()
        procs.append(proc)
        relays.append(thread)
    deadline = None if timeout is None else time.monotonic() + timeout
    codes: list[int | None] = [None] * workers
    while any(c is None for c in codes):
        for i, proc in enumerate(procs):
            if codes[i] is None:
                codes[i] = proc.poll()
        if any(c not in (None, 0) for c in codes) or (deadline and time.monotonic() > deadline):
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for i, proc in enumerate(procs):
                try:
                    codes[i] = proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes[i] = proc.wait()
        time.sleep(0.1)
    for thread in relays:
        thread.join(timeout=5)
    return [int(c) for c in codes]
