"""Hyperparameter search over a zoo entry (`kzoo-tune`), on Optuna.

Each trial is a normal kzoo training (`kzoo.training.train` with `test=False`: scored on the
validation split, the test split never read), its values drawn from the entry's `tune:` section
(`space`), stopped early by Optuna's pruner from its per-epoch validation metric (`objective`).
The study lives in Optuna's storage, a journal file in the study directory or a database URL, so
several processes or machines share it and a killed study resumes (`storage`, `study`). `report`
writes the trials, the plots and the best config as a YAML `kzoo-train --config` takes.

Start with `kzoo.tuning.study.tune(TuneRequest(...))`; nothing is imported here, so reading a
space (`kzoo.tuning.space`) loads neither Optuna nor TensorFlow.
"""
