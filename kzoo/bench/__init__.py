"""Benchmarks behind `kzoo-benchmark` (`tools/benchmark.py`).

- `runs`: real-data accuracy runs (one child process per seed), step throughput, serving latency.
- `vs_baseline`: kzoo against the hand-written Keras baselines in `baselines/` (`--vs-baseline`).

Nothing is imported here, so `baselines` can be imported without loading kzoo's library code.
"""

# The entries with a hand-written baseline (`baselines/<entry>.py`); here so `kzoo-benchmark` checks
# `--vs-baseline` before TensorFlow loads.
BASELINES = ("lstm", "transformer_cls", "neumf")
