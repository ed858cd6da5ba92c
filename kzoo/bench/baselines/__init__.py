"""Hand-written Keras baselines for `kzoo-benchmark --vs-baseline` (issue 6).

Each module (`lstm`, `transformer_cls`, `neumf`) is what a Keras user would write without kzoo:
the data read into NumPy arrays, the same architecture and batch size as the zoo entry built by
hand, default `compile`/`fit` settings. Each exposes the same functions:

- `load_arrays(data_dir, max_train_examples=None) -> dict` (arrays + `model_kwargs`),
- `build_model(**model_kwargs) -> keras.Model` (compiled),
- `epoch_data(arrays, epoch, seed) -> (x, y)`: the training arrays of one epoch,
- `train_and_evaluate(arrays, epochs, seed) -> dict`: works on tiny synthetic arrays too,
- `run(data_dir, epochs, seed, max_train_examples=None) -> dict`: test metric, train/total
  seconds, examples/s, per-epoch seconds,

and runs as a script: `python -m kzoo.bench.baselines.lstm --data-dir ../shared/datasets/tfds`.

They import each other (relatively) and third-party packages only, never kzoo's library code:
the baselines stand for what a Keras user writes without kzoo (`tests/test_baselines.py` checks).
"""
