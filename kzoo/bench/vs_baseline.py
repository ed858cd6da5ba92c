"""`kzoo-benchmark --vs-baseline`: kzoo against the hand-written Keras baseline of an entry.

Two comparisons, run in one process (issue 6):

- **throughput**: the zoo model as `train()` compiles it, fed by kzoo's pipeline (cache filled
  first), against the baseline's model fed NumPy arrays through `model.fit` — the same
  architecture and batch size. The sides alternate (baseline, kzoo, baseline, kzoo, ...); every
  window skips `warmup` steps and times the next `steps` (`StepWindow`). The ratio is kzoo's mean
  examples/s over the baseline's.
- **time to the baseline's metric**: the baseline's `run()` trains and evaluates; its
  `total_seconds` counts from the first read of the data to the end of its test evaluation.
  kzoo's `train()` then runs with a callback that evaluates the test split after every epoch
  (`TestEveryEpoch`, in this mode only). kzoo's time to an epoch is measured from the call to
  `train()` (data loading and vocabulary included) to the end of that epoch's test evaluation,
  minus the earlier epochs' test evaluations. The ratio is the first epoch's time whose test
  metric reaches the baseline's final one, over the baseline's total; None when never reached.

With `max_train_examples`, text entries train both sides on the first N reviews of the tfds
training split: kzoo reads them (and the whole test split) from CSV files written beforehand
through its own file loader, the baseline slices its arrays.
"""

from __future__ import annotations

import csv
import importlib
import statistics
import tempfile
import time
from pathlib import Path

import keras

from kzoo.bench import BASELINES  # re-exported: the entries with a hand-written baseline
from kzoo.bench.baselines._shared import load_imdb_texts
from kzoo.plugin import RunPlugin
from kzoo.tasks import compile_model, load_data
from kzoo.training import resolve_config, set_seed, train
from kzoo.zoo import build_from_config

DEFAULT_STEPS = {"lstm": 60, "transformer_cls": 60, "neumf": 1000}


def load_baseline(model: str):
    """Return the module `kzoo.bench.baselines.<model>` (ValueError when `model` has none)."""
    if model not in BASELINES:
        raise ValueError(f"no hand-written baseline for {model!r}; baselines: {', '.join(BASELINES)}")
    return importlib.import_module(f"kzoo.bench.baselines.{model}")


class StepWindow(keras.callbacks.Callback):
    """Time `steps` training steps after `warmup` steps, then stop `fit`."""

    def __init__(self, warmup: int, steps: int):
        super().__init__()
        self.warmup, self.steps = warmup, steps
        self.start = self.end = None

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        if self.start is None and done >= self.warmup:
            self.start = (time.perf_counter(), done)
        elif self.start is not None and done >= self.start[1] + self.steps:
            self.end = (time.perf_counter(), done)
            self.model.stop_training = True

    def examples_per_sec(self, batch_size: int) -> float:
        """Examples/s over the timed window (raises when `fit` ran out of steps first)."""
        if self.end is None:
            raise RuntimeError(f"the epoch ended before {self.warmup} + {self.steps} steps: give fewer steps")
        return batch_size * (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


class TestEveryEpoch(keras.callbacks.Callback):
    """Evaluate the test split after every epoch; record seconds since `t0` net of earlier evaluations."""

    def __init__(self, bundle, metric: str, t0: float):
        super().__init__()
        self.bundle, self.metric, self.t0 = bundle, metric, t0
        self.eval_seconds = 0.0
        self.records: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        started = time.perf_counter()
        if self.bundle.evaluate:
            test = self.bundle.evaluate(self.model, "test")
        else:
            test = self.model.evaluate(self.bundle.test, return_dict=True, verbose=0)
        finished = time.perf_counter()
        self.records.append({"epoch": epoch + 1, "metric": float(test[self.metric]),
                             "seconds": round(finished - self.t0 - self.eval_seconds, 2)})
        self.eval_seconds += finished - started


class _TestEveryEpochPlugin(RunPlugin):
    """Adds `TestEveryEpoch` to the run's data callbacks, which `train()` runs first at each epoch end,
    so the test evaluation happens before that epoch's checkpoint; its time is left out either way."""

    def __init__(self, metric: str, t0: float):
        self.metric, self.t0 = metric, t0
        self.callback: TestEveryEpoch | None = None

    def on_data(self, bundle, config) -> None:
        if self.callback is None:  # the first bundle is the run's own (a refit loads another)
            self.callback = TestEveryEpoch(bundle, self.metric, self.t0)
            bundle.callbacks = list(bundle.callbacks) + [self.callback]


def write_imdb_csv(data_dir: str | None, max_train_examples: int, folder: Path) -> Path:
    """Write the first `max_train_examples` tfds IMDB training reviews and the test split as CSV."""
    x_train, y_train, x_test, y_test = load_imdb_texts(data_dir, max_train_examples)
    folder.mkdir(parents=True, exist_ok=True)
    for split, texts, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((t.decode("utf-8"), ("neg", "pos")[int(y)]) for t, y in zip(texts, labels))
    return folder


def _kzoo_side(model: str, data: str, data_dir: str | None, seed: int, overrides, jit_compile: bool,
               steps_per_execution: int | None = None):
    """The zoo model compiled as `train()` compiles it, its training pipeline with the cache filled.

    `steps_per_execution` replaces the config's value (for trying one before it goes into a config).
    """
    config = resolve_config(model, overrides=overrides)
    set_seed(seed)
    bundle = load_data(config, source=data, data_dir=data_dir, seed=seed)
    sizes = getattr(bundle.preprocessor, "model_overrides", None)
    if callable(sizes):
        config = config.override({f"model.{key}": value for key, value in sizes().items()})
    steps = int(bundle.train.cardinality().numpy())
    net = build_from_config(config, compile=False)
    compile_model(net, config, steps_per_epoch=steps if steps > 0 else None, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    for _ in bundle.train:  # one pass fills the pipeline's cache, as the first epoch of a run does
        pass
    return net, bundle.train, config.train.batch_size, steps


def throughput(model: str, data_dir: str | None, seed: int = 0, warmup: int = 10, steps: int | None = None,
               rounds: int = 2, max_train_examples: int | None = None, data: str = "tfds",
               overrides=(), jit_compile: bool = False, baseline_arrays: dict | None = None,
               steps_per_execution: int | None = None) -> dict:
    """Alternate baseline and kzoo step windows `rounds` times; return the throughput record."""
    base = load_baseline(model)
    arrays = baseline_arrays or base.load_arrays(data_dir, max_train_examples)
    keras.utils.set_random_seed(seed)
    base_net = base.build_model(**arrays["model_kwargs"])
    x, y = base.epoch_data(arrays, 0, seed)
    net, train_ds, batch_size, kzoo_steps = _kzoo_side(model, data, data_dir, seed, overrides, jit_compile,
                                                        steps_per_execution)
    if batch_size != base.BATCH_SIZE:
        raise ValueError(f"batch sizes differ: kzoo {batch_size}, baseline {base.BATCH_SIZE}")
    per_epoch = min(len(y) // batch_size, kzoo_steps if kzoo_steps > 0 else len(y) // batch_size)
    steps = min(steps or DEFAULT_STEPS.get(model, 50), per_epoch - warmup - 1)
    if steps < 1:
        raise ValueError(f"an epoch has {per_epoch} steps: too few for {warmup} warm-up steps and a window")
    speeds = {"baseline": [], "kzoo": []}
    for _ in range(rounds):
        for side in ("baseline", "kzoo"):
            window = StepWindow(warmup, steps)
            if side == "baseline":
                base_net.fit(x, y, batch_size=batch_size, epochs=1, callbacks=[window], verbose=0)
            else:
                net.fit(train_ds, epochs=1, callbacks=[window], verbose=0, shuffle=False)
            speeds[side].append(round(window.examples_per_sec(batch_size), 1))
    mean = {side: sum(v) / len(v) for side, v in speeds.items()}
    pairs = [k / b for k, b in zip(speeds["kzoo"], speeds["baseline"])]  # same round: similar machine load
    return {"model": model, "comparison": "throughput", "batch_size": batch_size, "warmup_steps": warmup,
            "timed_steps": steps, "rounds": rounds, "baseline_examples_per_sec": speeds["baseline"],
            "kzoo_examples_per_sec": speeds["kzoo"], "ratio_kzoo_over_baseline": round(mean["kzoo"] / mean["baseline"], 3),
            "median_round_ratio": round(statistics.median(pairs), 3),
            "baseline_jit_compile": bool(base_net.jit_compile), "kzoo_jit_compile": bool(net.jit_compile),
            "kzoo_steps_per_execution": int(net.steps_per_execution), "overrides": list(overrides)}


def time_to_metric(model: str, data_dir: str | None, seed: int = 0, epochs: int | None = None,
                   max_train_examples: int | None = None, data: str = "tfds", overrides=(),
                   jit_compile: bool = False, baseline_arrays: dict | None = None) -> dict:
    """Run the baseline, then kzoo's `train()` with a per-epoch test evaluation; return the record.

    `baseline_arrays` (tests) replaces the baseline's data loading; its `total_seconds` then
    counts training and evaluation only.
    """
    base = load_baseline(model)
    if baseline_arrays is not None:
        result = base.train_and_evaluate(baseline_arrays, epochs or base.EPOCHS, seed)
    else:
        result = base.run(data_dir, epochs or base.EPOCHS, seed, max_train_examples)
    keras.backend.clear_session()
    with tempfile.TemporaryDirectory(prefix="kzoo-vs-baseline-") as tmp:
        if max_train_examples and data == "tfds":
            data = str(write_imdb_csv(data_dir, max_train_examples, Path(tmp) / "csv"))
        plugin = _TestEveryEpochPlugin(base.METRIC, time.perf_counter())
        metrics = train(model, data=data, data_dir=data_dir, epochs=epochs, seed=seed, overrides=overrides,
                        jit_compile=jit_compile, output=str(Path(tmp) / "run"), export=False, verbose=0,
                        plugins=[plugin])
    records = plugin.callback.records
    target = result["metric_value"]
    reached = next((r for r in records if r["metric"] >= target), None)
    seconds = reached["seconds"] if reached else None
    return {
        "model": model, "comparison": "time_to_baseline_metric", "metric": base.METRIC,
        "max_train_examples": max_train_examples, "baseline": result,
        "kzoo": {"per_epoch": records, "epochs_run": metrics["epochs_run"], "test": metrics["test"],
                 "train_seconds": metrics["train_seconds"], "train_examples_per_sec": metrics["train_examples_per_sec"],
                 "data": metrics["data"]["sizes"]},
        "kzoo_seconds_to_baseline_metric": seconds,
        "ratio_kzoo_over_baseline": round(seconds / result["total_seconds"], 3) if reached else None,
    }
