"""benchmarks/serve_load.py's records: each result one JSON line, stamped with the command and the
machine, and the markdown tables made from them (`serve_load.py --table`).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """Cores, load average (a shared machine's other work shows here), CPU model, versions, commit."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else ""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    from locust import __version__ as locust_version

    return {"cores": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()], "cpu": cpu,
            "python": platform.python_version(), "locust": locust_version, "commit": commit.stdout.strip()}


def recorder(out: str):
    """emit(record, server=None): the record, stamped (run, time, command, machine and the flags of `server`, a
    serve_load_harness.Server), appended to `out` as one JSON line and echoed (shortened) to stdout."""
    run = time.strftime("%Y-%m-%dT%H:%M:%S")
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    Path(out).parent.mkdir(parents=True, exist_ok=True)

    def emit(record: dict, server=None) -> None:
        stamped = {**record, "run": run, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": command,
                   "machine": machine()}
        if server is not None:
            stamped["server"] = {"flags": server.flags, "ready_s": server.ready_s}
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(stamped) + "\n")
        print(json.dumps({k: v for k, v in stamped.items() if k not in ("command", "machine")})[:400], flush=True)

    return emit


def read_records(path: str) -> list[dict]:
    """The records of `path`, the latest of each point (scenario, model, batch setting, users)."""
    latest = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            latest[(record["scenario"], record["model"], record.get("max_batch_size"), record.get("users"))] = record
    return list(latest.values())


def _cell(value) -> str:
    return "–" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def _rows(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)]


def _throughput(records: list[dict]) -> list[str]:
    header = ["model", "max batch", "users", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "server cores",
              "generator cores"]
    return _rows(header, [[r["model"], r["max_batch_size"] or "off", r["users"], r["rps"], r["p50_ms"], r["p95_ms"],
                           r["p99_ms"], r["errors"], r["server_cores"], r["generator_cores"]]
                          for r in sorted(records, key=lambda r: (r["model"], -r["max_batch_size"], r["users"]))])


def _summary(records: list[dict]) -> list[str]:
    rows = []
    for r in records:
        for batch, s in r["settings"].items():
            compared = batch == str(r.get("speedup_of"))  # the speedup sits on the batching row it is of
            rows.append([r["model"], batch if batch != "0" else "off",
                         f"{s['best_rps']:g} ({s['best_users']} users)" if s["best_users"] else "none",
                         s["rps_at_clients"], s["p99_ms_at_clients"], s["errors_at_clients"],
                         f"{r['speedup_at_clients']:g}x" if compared else "",
                         ("yes" if r["goal_met"] else "no") if compared else ""])
    clients = records[0]["clients"]
    return _rows(["model", "max batch", "best req/s at p99 <= 100 ms", f"req/s at {clients} users",
                  f"p99 ms at {clients}", "errors", "speedup", ">= 2x, 0 errors"], rows)


def _swap(records: list[dict]) -> list[str]:
    return _rows(["model", "users", "requests", "failed", "swap s", "p99 ms before", "p99 ms during swap"],
                 [[r["model"], r["users"], r["requests"], r["errors"], r["swap_s"], r["before"]["p99_ms"],
                   r["during"]["p99_ms"]] for r in records])


def _kill(records: list[dict]) -> list[str]:
    return _rows(["model", "users", "downtime s", "restart to ready s", "failed while down", "errors after recovery",
                  "req/s after"],
                 [[r["model"], r["users"], r["downtime_s"], r["restart_to_ready_s"], r["failed_while_down"],
                   r["errors_after_recovery"], r["after"]["rps"]] for r in records])


def _memory(records: list[dict]) -> list[str]:
    def shed(r):  # the phase's 503s, split by who answered them
        over = r["overload"]
        return f"{over['phase_503']} ({over['phase_503_by_gate']} / {r['phase_503_by_uvicorn']})"

    return _rows(["model", "users", "RSS MB idle", "RSS MB max", "overload users", "RSS MB max", "growth MB",
                  "503s (gate / uvicorn)", "other errors", "p99 ms", "slowest ms", "/healthz failed"],
                 [[r["model"], r["users"], r["rss_idle_mb"], r["rss_sustainable_max_mb"], r["overload"]["users"],
                   r["rss_overload_max_mb"], r["rss_growth_mb"], shed(r), r["overload"]["errors"] - r["shed_503"],
                   r["overload"]["p99_ms"], r["overload"]["max_ms"],
                   f"{r['overload']['healthz_failed']} of {len(r['overload']['rss_mb'])}"]
                  for r in records])


SECTIONS = {"throughput": _throughput, "throughput_summary": _summary, "swap": _swap, "kill": _kill,
            "memory": _memory}


def table(records: list[dict]) -> str:
    """The markdown tables of the records: throughput points, their summary, swap, kill, memory."""
    if not records:
        return "(no records)"
    loads = [r["machine"]["loadavg"][0] for r in records]
    lines = [f"machine: {records[0]['machine']['cores']} cores, {records[0]['machine']['cpu']}; load average "
             f"(1 min) during the run {min(loads)}-{max(loads)}", ""]
    for scenario, section in SECTIONS.items():
        chosen = [r for r in records if r["scenario"] == scenario]
        if chosen:
            lines += section(chosen) + [""]
    return "\n".join(lines)
