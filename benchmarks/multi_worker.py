#!/usr/bin/env python
"""Multi-worker record for BENCHMARKS.md: 1 vs 2 local workers, and what a killed worker costs.

    python benchmarks/multi_worker.py --data-dir ../shared/datasets/tfds [--model mlp] [--epochs 3]

Prints one JSON line per measurement. Both parts train through `kzoo-train`, the second with
`--strategy multi_worker` under `kzoo.training.launch`, so the numbers include what users pay.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kzoo.training.launch import free_ports, launch_local, tf_config

TRAIN = [sys.executable, "-m", "kzoo.cli.train"]


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def throughput(args, workdir: Path) -> list[dict]:
    """Train once on one worker and once on two; return global examples/s for each."""
    common = ["--model", args.model, "--data", "tfds", "--data-dir", args.data_dir, "--epochs", str(args.epochs),
              "--no-export"]
    rows = []
    started = time.perf_counter()
    subprocess.run(TRAIN + common + ["--output", str(workdir / "one")], check=True, capture_output=True)
    one = _metrics(workdir / "one")
    rows.append({"workers": 1, "wall_s": round(time.perf_counter() - started, 1),
                 "global_examples_per_sec": round(one["train_examples_per_sec"], 1), "test": one["test"]})
    started = time.perf_counter()
    codes = launch_local(TRAIN + common + ["--strategy", "multi_worker", "--output", str(workdir / "two")], 2,
                         cpu_threads=max(1, (os.cpu_count() or 2) // 2))
    assert codes == [0, 0], codes
    two = _metrics(workdir / "two")
    rows.append({"workers": 2, "wall_s": round(time.perf_counter() - started, 1),
                 # each worker reports its own shard's rate; the job's rate is the sum
                 "global_examples_per_sec": round(2 * two["train_examples_per_sec"], 1), "test": two["test"]})
    return [dict(model=args.model, measure="throughput", **row) for row in rows]


def kill_and_resume(args, workdir: Path) -> dict:
    """Kill worker 1 right after epoch 1, relaunch both with --resume; return the times involved."""
    run = workdir / "killed"
    command = TRAIN + ["--model", args.model, "--data", "tfds", "--data-dir", args.data_dir, "--epochs",
                       str(args.epochs), "--strategy", "multi_worker", "--output", str(run), "--no-export"]
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    threads = str(max(1, (os.cpu_count() or 2) // 2))
    procs = [subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=tf_config(hosts, i), TF_NUM_INTRAOP_THREADS=threads),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    started = time.perf_counter()
    epoch_seconds = None
    for line in procs[0].stdout:
        match = re.match(r"epoch 1/\d+ ([\d.]+)s", line)
        if match:
            epoch_seconds = float(match.group(1))
            break
    first_epoch_done = time.perf_counter() - started
    procs[1].kill()
    killed = time.perf_counter()
    procs[0].wait()
    detected = time.perf_counter() - killed
    relaunch = time.perf_counter()
    codes = launch_local(command + ["--resume"], 2, cpu_threads=int(threads))
    assert codes == [0, 0], codes
    relaunch_wall = time.perf_counter() - relaunch
    remaining_epochs = args.epochs - 1
    return {"model": args.model, "measure": "kill_and_resume", "epoch_1_s": epoch_seconds,
            "start_to_epoch_1_s": round(first_epoch_done, 1), "chief_noticed_dead_peer_s": round(detected, 1),
            "relaunch_wall_s": round(relaunch_wall, 1), "remaining_epochs": remaining_epochs,
            "overhead_s": round(relaunch_wall - remaining_epochs * (epoch_seconds or 0) + detected, 1),
            "test": _metrics(run)["test"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for row in throughput(args, Path(tmp)):
            print(json.dumps(row), flush=True)
        print(json.dumps(kill_and_resume(args, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
