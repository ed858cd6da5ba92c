"""Test HR@K / NDCG@K of a finished recommender run, float against `--quantize int8`.

    python benchmarks/recommender_int8.py RUN_DIR [--data-dir ~/tensorflow_datasets]

`tools/benchmark.py --serving --eval-data-dir` cannot score recommender exports (the leave-one-out
protocol needs the run's interactions, not a raw split), so this scores the Keras model and the same
int8 clone the export would write (`kzoo.export.core.quantize_model`) with the run's own protocol:
its config, id maps, seed and data (the source it recorded; another `--data` needs
`--allow-other-data`). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.export import quantize_model  # noqa: E402
from kzoo.run_dir import RunDir  # noqa: E402
from kzoo.tasks import compile_model, load_data  # noqa: E402
from kzoo.training.evaluate import recorded_source, run_data_source  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", default="auto", help="default: the data the run trained on")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--allow-other-data", action="store_true")
    args = parser.parse_args()
    run = RunDir.open(args.run_dir)
    config, metrics = run.config(), run.metrics()
    seed = int(metrics.get("seed", 0))
    recorded = recorded_source(config, metrics)
    source, data_dir = run_data_source(recorded, args.data, args.data_dir, args.allow_other_data)
    bundle = load_data(config, source=source, data_dir=data_dir, seed=seed, preprocessor=run.preprocessor(config))
    model = run.load_model()
    compile_model(model, config)
    quantized, report = quantize_model(model, "int8")
    compile_model(quantized, config)
    print(json.dumps({"run": args.run_dir, "entry": config.entry, "data": bundle.summary(),
                      "float": bundle.evaluate(model, "test"), "int8": bundle.evaluate(quantized, "test"),
                      "quantized": report}))


if __name__ == "__main__":
    main()
