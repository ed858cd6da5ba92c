"""Profile a window of training steps of kzoo or its hand-written baseline; print the top host events.

    python benchmarks/profile_steps.py lstm kzoo 5 --data-dir ../shared/datasets/tfds
    python benchmarks/profile_steps.py neumf baseline 300 --data-dir ../shared/datasets/tfds [--jit-compile] [--steps-per-execution 16]

The TensorFlow profiler (`tf.profiler.experimental.start/stop`, what `keras.callbacks.TensorBoard(
profile_batch=...)` uses) records the steps after 10 warm-up steps; the trace (`.xplane.pb`, also
readable in TensorBoard's profile tab) is summed per event name over the host threads.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from kzoo.bench import vs_baseline  # noqa: E402


def _fit_function(model: str, side: str, data_dir: str, jit_compile: bool, steps_per_execution: int | None):
    if side == "baseline":
        base = vs_baseline.load_baseline(model)
        arrays = base.load_arrays(data_dir)
        net = base.build_model(**arrays["model_kwargs"])
        x, y = base.epoch_data(arrays, 0, 0)
        return (lambda cb: net.fit(x, y, batch_size=base.BATCH_SIZE, epochs=1, callbacks=[cb], verbose=0)), base.BATCH_SIZE
    net, ds, batch_size, _ = vs_baseline._kzoo_side(model, "tfds", data_dir, 0, (), jit_compile, steps_per_execution)
    return (lambda cb: net.fit(ds, epochs=1, callbacks=[cb], verbose=0, shuffle=False)), batch_size


class _Profile(keras.callbacks.Callback):
    def __init__(self, logdir: str, warmup: int, steps: int):
        super().__init__()
        self.logdir, self.warmup, self.steps = logdir, warmup, steps

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.warmup:
            tf.profiler.experimental.start(self.logdir)
        if batch + 1 >= self.warmup + self.steps:
            tf.profiler.experimental.stop()
            self.model.stop_training = True


def top_host_events(logdir: str, top: int = 25) -> list[tuple[str, float]]:
    """(event name, total ms) of the host planes of the newest trace under `logdir`, largest first."""
    path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    total: collections.Counter = collections.Counter()
    for plane in space.planes:
        if "host" in plane.name.lower():
            names = {k: v.name for k, v in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    total[names.get(event.metadata_id, "?")] += event.duration_ps / 1e9
    return total.most_common(top)


def main() -> None:
    """Profile one window and print examples/s and the top host events."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=vs_baseline.BASELINES)
    parser.add_argument("side", choices=("kzoo", "baseline"))
    parser.add_argument("steps", type=int)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--steps-per-execution", type=int, default=None)
    args = parser.parse_args()
    fit, batch_size = _fit_function(args.model, args.side, args.data_dir, args.jit_compile, args.steps_per_execution)
    window = vs_baseline.StepWindow(10, args.steps)
    fit(window)
    print(f"unprofiled window: {window.examples_per_sec(batch_size):.1f} examples/s")
    logdir = tempfile.mkdtemp(prefix=f"kzoo-profile-{args.model}-{args.side}-")
    started = time.perf_counter()
    fit(_Profile(logdir, 10, args.steps))
    print(f"profiled fit: {time.perf_counter() - started:.1f} s; trace in {logdir}")
    for name, ms in top_host_events(logdir):
        print(f"{ms:10.1f} ms  {name[:110]}")


if __name__ == "__main__":
    main()
