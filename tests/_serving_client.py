"""Serve SavedModel signatures from a fresh process that imports TensorFlow only (test helper).

As a script, `python _serving_client.py JOBS.json` runs each job
`{"export": dir, "signature": name, "inputs": in.npz, "outputs": out.npz}` through the loader of
`kzoo/cli/predict.py` (loaded as a lone file, as a serving machine holds it), with imports of kzoo
and keras-hub blocked, and prints a JSON report:
`kzoo_modules` (must be empty) and `new_keras_modules`, the Keras modules imported after
`import tensorflow` (TensorFlow itself imports part of Keras; serving must add none).

From the tests, `serve_in_clean_process(jobs, workdir)` writes the inputs, runs the script and
returns `(outputs per job, report)`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREDICT = HERE.parent / "kzoo" / "cli" / "predict.py"
BLOCKED = ("kzoo", "keras_hub", "keras_nlp")


def serve_in_clean_process(jobs: list[tuple[str, str, dict]], workdir: Path):
    """Run `(export_dir, signature, {name: np.ndarray})` jobs in a subprocess; return (outputs, report)."""
    import numpy as np

    specs = []
    for i, (export, signature, inputs) in enumerate(jobs):
        np.savez(workdir / f"in{i}.npz", **inputs)
        specs.append({"export": str(export), "signature": signature,
                      "inputs": str(workdir / f"in{i}.npz"), "outputs": str(workdir / f"out{i}.npz")})
    (workdir / "jobs.json").write_text(json.dumps(specs))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, __file__, str(workdir / "jobs.json")], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = []
    for spec in specs:
        with np.load(spec["outputs"]) as data:
            outputs.append({k: data[k] for k in data.files})
    return outputs, json.loads(done.stdout.strip().splitlines()[-1])


class _Block:
    """Import hook that refuses the modules a serving client must not need."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"serving client must not import {name}")
        return None


def _main(jobs_file: str) -> None:
    import numpy as np
    import tensorflow as tf

    keras_before = {m for m in sys.modules if m.split(".")[0] == "keras"}
    sys.meta_path.insert(0, _Block())
    spec = importlib.util.spec_from_file_location("kzoo_predict_tool", PREDICT)
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    for job in json.loads(Path(jobs_file).read_text()):
        _, loaded = predict.load(job["export"])
        with np.load(job["inputs"]) as data:
            inputs = {k: tf.constant(data[k].tolist() if data[k].dtype.kind == "U" else data[k]) for k in data.files}
        outputs = loaded.signatures[job["signature"]](**inputs)
        arrays = {}
        for name, value in outputs.items():
            value = value.numpy()
            if value.dtype == object:  # strings: bytes -> str, so np.load needs no pickle
                value = np.vectorize(lambda b: b.decode("utf-8"), otypes=[str])(value)
            arrays[name] = value
        np.savez(job["outputs"], **arrays)
    report = {
        "kzoo_modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
        "new_keras_modules": sorted(m for m in sys.modules if m.split(".")[0] == "keras" and m not in keras_before),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    _main(sys.argv[1])
