"""Load benchmark of `kzoo-serve`: throughput and latency with and without batching, a hot swap, a
killed server and 10x overload, driven by locust.

    pip install -e ".[loadtest]"          # locust (it brings gevent, geventhttpclient and psutil)
    python benchmarks/serve_load.py --data-dir ../shared/datasets/tfds            # everything (~30 min)
    python benchmarks/serve_load.py --data-dir ../shared/datasets/tfds --models lstm --seconds 3 \
        --users 1,8 --clients 8 --scenarios throughput --out /tmp/serve_load.jsonl   # a quick look
    python benchmarks/serve_load.py --table                                      # the table of --out

Exports: `lstm` (IMDB), `gmf` (MovieLens-100k) and `cnn` (MNIST) with their default architectures,
trained one epoch on real data into `--work` (see TRAIN_ARGS; a finished run there is reused), or the
exports given with `--exports NAME=DIR`. Each scenario serves a copy of the newest version (so the
hot swap never writes into your export). Request bodies hold one row each and come from the real test
data (benchmarks/serve_load_requests.py): typical-length IMDB reviews, MNIST digits, MovieLens user
ids asking `recommend` for k = 10.

Scenarios (each starts `tools/serve.py` as a subprocess on a free port and waits for /readyz):
- throughput: per `--batching` setting (`--max-batch-size`, 0 = off), per user count in `--users`:
  requests/s, p50/p95/p99 latency, errors; then, per setting, the highest throughput whose p99 is at
  most 100 ms, and batching's speedup at `--clients` users (the issue's goal: >= 2x, 0 errors);
- swap: under `--clients` users, a copy of the version is staged as a hidden folder and renamed to
  version 2; the model's status is polled until 2 is served (1 is retired in the same pass); failed
  requests (goal 0) and the latency while the new version loads;
- kill: SIGKILL under load, restarted at once on the same port as a supervisor would; downtime (kill
  to the first answered request), requests failed meanwhile, and errors after recovery (goal 0);
- memory: the sustainable load (the best p99 <= 100 ms point of batching, else `--clients` users),
  then 10x those users, and at least `--clients` more than the server admits at once
  (`--max-concurrency` + `--max-queued`, 320 by default) so that it has to shed; the server's RSS
  sampled every second: max RSS of each phase, growth over the overload phase (max of its last
  third minus max of its first), 503s (the server's admission gate's, or uvicorn's connection limit's),
  the slowest answer, and /healthz asked every second as a liveness probe would (goal: bounded
  memory, 503s, no hang, probes answered).

Why locust's library API (`Environment`, `create_local_runner`) rather than `locust --headless`: the
scenarios act while the users run (rename a folder, SIGKILL and restart the server, sample its RSS)
and need when each request ended, which one process with the users as greenlets gives directly; a
subprocess would need its CSV history parsed and its clock matched to ours. Users are
`FastHttpUser`s (geventhttpclient: several times the requests per core of `HttpUser`, which matters
when the generator shares the machine's cores with the server), each a closed loop: the next
request as soon as the answer came, keep-alive. After a failed request a user waits
`RETRY_DELAY_S`, as a client with a retry delay would; without it refused connections are retried in
a tight loop that takes the CPU the restarting server needs. Latency is locust's response time (send
to last byte) of the successful requests; throughput counts successful requests per second, over
`--seconds` after `--warmup`. Records also carry the CPU the generator and the server used (cores),
so a generator-bound point can be told apart: on a 2-core machine both compete for the same cores.

Each result is one JSON line in `--out` (appended, as it comes: an interrupted run keeps what it
measured) with the command, the server's flags and the machine (cores, load average); the markdown
table is printed at the end (`--table` prints it from an existing file, the latest record of each
point).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Siblings in benchmarks/ (on the path as the script's folder); none imports locust or TensorFlow at the
# top, so gevent patches the process in main() before any socket is opened.
from serve_load_harness import READY_TIMEOUT_S, CpuMeter, Load, Server, child_env, http, metric_total, summarize
from serve_load_report import read_records, recorder, table
from serve_load_requests import KINDS  # no TensorFlow: the bodies are built in a child process

ROOT = Path(__file__).resolve().parents[1]

# One epoch on real data: the default architecture, so a request costs what it will cost trained;
# the weights' quality does not change the compute. gmf keeps all of ML-100k (data.max_examples would
# keep fewer users and shrink the catalogue `recommend` scores) and skips the refit's second training.
TRAIN_ARGS = {"text": ["--set", "data.max_examples=2000", "--epochs", "1"],
              "image": ["--set", "data.max_examples=2000", "--epochs", "1"],
              "recommend": ["--set", "train.refit=false", "--epochs", "1"]}
SCENARIOS = ("throughput", "swap", "kill", "memory")
P99_GOAL_MS = 100.0


def parse_args(argv=None) -> argparse.Namespace:
    """The benchmark's options (see --help)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="lstm,gmf,cnn", help="entries to serve, comma-separated")
    parser.add_argument("--exports", action="append", default=[], metavar="NAME=DIR",
                        help="use this export (a folder of versions, or a run directory) instead of training one")
    parser.add_argument("--data-dir", default=os.environ.get("TFDS_DATA_DIR", str(Path.home() / "tensorflow_datasets")),
                        help="tfds data dir with imdb_reviews, mnist, movielens (training and request bodies)")
    parser.add_argument("--work", default=str(ROOT / "runs" / "serve_load"),
                        help="trained runs, request bodies, served copies and server logs")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"any of {', '.join(SCENARIOS)}")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per point")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each point")
    parser.add_argument("--users", default="1,2,4,8,16,32,64", help="user counts stepped in the throughput scenario")
    parser.add_argument("--clients", type=int, default=32,
                        help="concurrent users of the batching comparison, the swap and the kill")
    parser.add_argument("--batching", default="64,0", help="--max-batch-size settings compared (0 = no batching)")
    parser.add_argument("--server-args", default="", help="more kzoo-serve flags for every server, one string")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "serve_load.jsonl"))
    parser.add_argument("--table", action="store_true", help="print the table of --out and exit")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.users = sorted({int(u) for u in args.users.split(",")} | {args.clients})
    args.batching = [int(b) for b in args.batching.split(",")]
    args.exports = dict(spec.split("=", 1) for spec in args.exports)
    admitted(args)  # --server-args checked before anything is trained
    for name in [*args.models, *args.exports]:
        if name not in KINDS:
            parser.error(f"unknown model {name!r}: request bodies exist for {', '.join(sorted(KINDS))}")
    for scenario in args.scenarios:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r}: valid are {', '.join(SCENARIOS)}")
    return args


# ---- preparation (child processes: TensorFlow stays out of this gevent-patched process) ----

def _child(command: list[str], log: Path) -> None:
    """Run `command` with this checkout's kzoo first on the path; its output goes to `log`, shown if it fails."""
    with open(log, "w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, env=child_env())
    if done.returncode != 0:
        sys.exit(f"error: {shlex.join(command)} failed ({done.returncode}):\n{log.read_text()[-3000:]}")


def newest_version(folder: Path) -> Path:
    """The newest numbered version of an export folder (or of a run directory's export/)."""
    folder = folder / "export" if (folder / "export").is_dir() else folder
    versions = [p for p in folder.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not versions:
        sys.exit(f"error: {folder} holds no numbered SavedModel version")
    return max(versions, key=lambda p: int(p.name))


def prepare(name: str, args) -> tuple[Path, dict]:
    """(the version folder to serve, the request bodies) for entry `name`, trained or read as needed."""
    work = Path(args.work)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    if name in args.exports:
        version = newest_version(Path(args.exports[name]))
    else:
        run = work / "runs" / name
        if not (run / "export").is_dir():
            shutil.rmtree(run, ignore_errors=True)  # an unfinished earlier run: train afresh
            print(f"serve_load: training {name} (one epoch on real data) into {run}", flush=True)
            _child([sys.executable, "tools/train.py", "--model", name, "--data", "tfds", "--data-dir", args.data_dir,
                    "--output", str(run), *TRAIN_ARGS[KINDS[name]]], work / "logs" / f"train-{name}.log")
        version = newest_version(run)
    bodies = work / "bodies" / f"{name}.json"
    if not bodies.is_file():
        bodies.parent.mkdir(exist_ok=True)
        _child([sys.executable, "benchmarks/serve_load_requests.py", "--model", name, "--data-dir", args.data_dir,
                "--out", str(bodies)], work / "logs" / f"bodies-{name}.log")
    return version, json.loads(bodies.read_text())


def served_copy(version: Path, base: Path) -> Path:
    """A fresh base folder holding `version` as version 1 (the scenarios add versions to it)."""
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(version, base / "1")
    return base


# ---- servers and load ----

def admitted(args) -> int:
    """Requests the servers admit at once (--max-concurrency + --max-queued); more are shed with a 503."""
    from kzoo.cli.serve import DEFAULTS, build_parser

    given = vars(build_parser().parse_args(shlex.split(args.server_args)))  # exits 2 on a bad flag
    return sum(DEFAULTS[key] if given[key] is None else given[key] for key in ("max_concurrency", "max_queued"))


def server_flags(args, max_batch_size: int | None = None) -> list[str]:
    """kzoo-serve flags: `--server-args`, with `--max-batch-size` when a scenario compares it."""
    flags = shlex.split(args.server_args)
    return flags + ["--max-batch-size", str(max_batch_size)] if max_batch_size is not None else flags


def start_server(name: str, version: Path, args, scenario: str, flags: list[str]) -> Server:
    """A server of a fresh copy of `version`, started and ready."""
    work = Path(args.work)
    base = served_copy(version, work / "serving" / scenario / name)
    server = Server(name, base, flags, work / "logs" / f"serve-{scenario}-{name}.log")
    print(f"serve_load: {scenario} {name}: starting {shlex.join(server.command[1:])}", flush=True)
    server.start()
    return server


def measure(server: Server, payload: dict, users: int, args) -> dict:
    """One point: `users` users for `--warmup` then `--seconds` measured seconds."""
    load = Load(server.port, payload, users)
    try:
        time.sleep(args.warmup)
        cpu, start = CpuMeter(server), time.time()
        time.sleep(args.seconds)
        end = time.time()
        return {"users": users, **summarize(load.samples, start, end), **cpu.read()}
    finally:
        load.stop()


# ---- the scenarios ----

def throughput(name: str, version: Path, payload: dict, args, emit) -> dict:
    """Each `--batching` setting over `--users`; then the best p99 <= 100 ms point and the speedup at `--clients`."""
    settings = {}
    for batch in args.batching:
        server = start_server(name, version, args, "throughput", server_flags(args, batch))
        try:
            points = []
            for users in args.users:
                points.append(measure(server, payload, users, args))
                emit({"scenario": "throughput", "model": name, "max_batch_size": batch, **points[-1]}, server)
        finally:
            server.stop()
        within = [p for p in points if p["errors"] == 0 and p["p99_ms"] is not None and p["p99_ms"] <= P99_GOAL_MS]
        best = max(within, key=lambda p: p["rps"], default=None)
        at = next(p for p in points if p["users"] == args.clients)
        settings[batch] = {"best_rps": best["rps"] if best else 0.0, "best_users": best["users"] if best else None,
                           "best_p99_ms": best["p99_ms"] if best else None, "rps_at_clients": at["rps"],
                           "p99_ms_at_clients": at["p99_ms"], "errors_at_clients": at["errors"]}
    summary = {"scenario": "throughput_summary", "model": name, "clients": args.clients, "p99_goal_ms": P99_GOAL_MS,
               "settings": {str(b): v for b, v in settings.items()}}
    batched = [b for b in settings if b > 0]
    if 0 in settings and batched and settings[0]["rps_at_clients"]:
        best = max(batched, key=lambda b: settings[b]["rps_at_clients"])
        speedup = settings[best]["rps_at_clients"] / settings[0]["rps_at_clients"]
        errors = settings[best]["errors_at_clients"] + settings[0]["errors_at_clients"]
        summary.update(speedup_at_clients=round(speedup, 2), speedup_of=best, goal="batching >= 2x at --clients, 0 errors",
                       goal_met=speedup >= 2 and errors == 0)
    emit(summary)
    return summary


def served_versions(port: int, name: str) -> list[str]:
    status = http(port, f"/v1/models/{name}")[1]
    return [e["version"] for e in status.get("model_version_status", []) if e["state"] == "AVAILABLE"]


def hot_swap(name: str, version: Path, payload: dict, args, emit) -> dict:
    """Version 2 copied in (staged under a hidden name, then renamed) while `--clients` users run."""
    server = start_server(name, version, args, "swap", server_flags(args))
    load = Load(server.port, payload, args.clients)
    try:
        time.sleep(args.warmup)
        start = time.time()
        time.sleep(max(2.0, args.seconds / 3))
        staging = server.base / ".staging-2"
        shutil.copytree(version, staging)
        staging.rename(server.base / "2")  # the version appears whole: a half-copied folder is never polled
        renamed = time.time()
        while "2" not in served_versions(server.port, name) and time.time() - renamed < READY_TIMEOUT_S:
            time.sleep(0.1)
        swapped, versions = time.time(), served_versions(server.port, name)
        time.sleep(max(3.0, args.seconds / 3))
        end = time.time()
    finally:
        load.stop()
        server.stop()
    record = {"scenario": "swap", "model": name, "users": args.clients, "versions_served_after": versions,
              "swap_s": round(swapped - renamed, 2), **summarize(load.samples, start, end),
              "before": summarize(load.samples, start, renamed), "during": summarize(load.samples, renamed, swapped + 1)}
    emit(record, server)
    return record


def killed_server(name: str, version: Path, payload: dict, args, emit) -> dict:
    """SIGKILL under `--clients` users, restarted at once on the same port; downtime and failures."""
    server = start_server(name, version, args, "kill", server_flags(args))
    load = Load(server.port, payload, args.clients)
    try:
        time.sleep(args.warmup)
        start = time.time()
        time.sleep(max(2.0, args.seconds / 3))
        killed = time.time()
        server.kill()
        reaped = time.time()  # any success after this comes from the new process
        restart_s = server.start()
        while not any(s[3] and s[0] > reaped for s in load.samples[-200:]) and time.time() - reaped < READY_TIMEOUT_S:
            time.sleep(0.05)
        recovered = min((s[0] for s in load.samples if s[3] and s[0] > reaped), default=time.time())
        time.sleep(max(3.0, args.seconds / 3))
        end = time.time()
    finally:
        load.stop()
        server.stop()
    down = summarize(load.samples, killed, recovered)
    record = {"scenario": "kill", "model": name, "users": args.clients, "downtime_s": round(recovered - killed, 2),
              "restart_to_ready_s": round(restart_s, 2), "failed_while_down": down["errors"],
              "down_codes": down["codes"], "before": summarize(load.samples, start, killed),
              "after": summarize(load.samples, recovered, end)}
    record["errors_after_recovery"] = record["after"]["errors"]
    emit(record, server)
    return record


def shed_by_gate(server: Server) -> int:
    """Requests kzoo-serve's admission gate has answered with its JSON 503 so far (its Prometheus counter)."""
    for _ in range(50):  # right after an overload, uvicorn may still refuse new connections for a moment
        try:
            return int(metric_total(server.port, "kzoo_serve_errors_total", kind="overloaded"))
        except OSError:
            time.sleep(0.2)
    return int(metric_total(server.port, "kzoo_serve_errors_total", kind="overloaded"))


def memory(name: str, version: Path, payload: dict, args, emit, sustainable_users: int) -> dict:
    """The sustainable load, then 10x its users, RSS sampled every second; bounded memory and 503s.

    The overload is at least 10x, and more users than the server admits at once (`admitted`), so
    that it must shed: below that every request is queued and answered, however slowly.
    """
    server = start_server(name, version, args, "memory", server_flags(args))
    idle = server.rss_mb()
    phases = {}
    try:
        for phase, users, seconds in (("sustainable", sustainable_users, args.seconds),
                                      ("overload", max(10 * sustainable_users, admitted(args) + args.clients),
                                       2 * args.seconds)):
            gate = shed_by_gate(server)
            load = Load(server.port, payload, users)
            try:
                time.sleep(args.warmup)
                cpu, start, rss, probes = CpuMeter(server), time.time(), [], []
                while time.time() - start < seconds:
                    time.sleep(1.0)
                    rss.append(round(server.rss_mb(), 1))
                    probes.append(http(server.port, "/healthz", timeout=3.0)[0])  # as a kubelet's liveness probe
                phases[phase] = {"users": users, **summarize(load.samples, start, time.time()), **cpu.read(),
                                 "rss_mb": rss, "healthz_failed": sum(code != 200 for code in probes)}
            finally:
                load.stop()
            # over the whole phase (warm-up too): the gate's counter cannot be read while uvicorn refuses connections
            phases[phase]["phase_503"] = sum(s[2] == 503 for s in load.samples)
            phases[phase]["phase_503_by_gate"] = shed_by_gate(server) - gate
    finally:
        server.stop()
    over = phases["overload"]["rss_mb"]
    third = max(1, len(over) // 3)
    record = {"scenario": "memory", "model": name, "users": sustainable_users, "rss_idle_mb": round(idle, 1),
              "rss_sustainable_max_mb": max(phases["sustainable"]["rss_mb"]), "rss_overload_max_mb": max(over),
              "rss_growth_mb": round(max(over[-third:]) - max(over[:third]), 1),
              "shed_503": phases["overload"]["codes"].get("503", 0), **phases}
    # the other 503s are uvicorn's connection limit (--max-concurrency + --max-queued + 64): plain text, no Retry-After
    record["phase_503_by_uvicorn"] = phases["overload"]["phase_503"] - phases["overload"]["phase_503_by_gate"]
    emit(record, server)
    return record


def estimate_minutes(args) -> float:
    """Rough wall time of the scenarios (a server takes ~10 s to be ready on a busy 2-core machine), training aside."""
    point = args.warmup + args.seconds + 1
    per_model = {"throughput": len(args.batching) * (10 + len(args.users) * point),
                 "swap": 10 + args.warmup + max(2, args.seconds / 3) + 5 + max(3, args.seconds / 3),
                 "kill": 20 + args.warmup + max(2, args.seconds / 3) + max(3, args.seconds / 3),
                 "memory": 15 + 2 * args.warmup + 3 * args.seconds}
    return len(args.models) * sum(per_model[s] for s in args.scenarios) / 60


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.table:
        if not Path(args.out).is_file():
            sys.exit(f"error: --out {args.out} does not exist: run the benchmark first")
        print(table(read_records(args.out)))
        return
    try:
        import locust  # noqa: F401  (gevent patches this process's sockets here, before any is opened)
    except ImportError:
        sys.exit('error: locust is not installed: pip install -e ".[loadtest]"')
    print(f"serve_load: {', '.join(args.scenarios)} for {', '.join(args.models)}: about "
          f"{estimate_minutes(args):.0f} min, plus training what is not in --work", flush=True)
    emit = recorder(args.out)
    prepared = {name: prepare(name, args) for name in args.models}
    for name, (version, payload) in prepared.items():
        summary = throughput(name, version, payload, args, emit) if "throughput" in args.scenarios else None
        if "swap" in args.scenarios:
            hot_swap(name, version, payload, args, emit)
        if "kill" in args.scenarios:
            killed_server(name, version, payload, args, emit)
        if "memory" in args.scenarios:
            best = [s["best_users"] for b, s in (summary or {}).get("settings", {}).items() if b != "0"]
            memory(name, version, payload, args, emit, sustainable_users=max(filter(None, best), default=args.clients))
    print(table(read_records(args.out)))


if __name__ == "__main__":
    main()
