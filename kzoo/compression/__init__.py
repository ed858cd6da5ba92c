"""Model compression: knowledge distillation into small students, and magnitude pruning.

- `Distiller` (a Keras model overriding `compute_loss`) trains a student on a frozen teacher;
  the trainer plug-in `Distillation` (`kzoo.compression.teacher`) runs it inside a normal run, and
  `kzoo.training.distill_run(teacher_run, student_entry, ...)` (`tools/distill.py`) is the front.
- Pruning is a training option of every entry: `--set prune.target_sparsity=0.8` (config section
  `prune`; the `Pruning` plug-in, `kzoo.compression.prune`), optionally from a finished run's
  weights (`prune.from_run`, the `PruneFromRun` plug-in).
- `saved_model_size(dir)` measures an export raw and gzip-compressed.
"""

from kzoo.compression.distiller import Distiller, soft_target_kl
from kzoo.compression.prune import MagnitudePruning, PolynomialSchedule, sparsity_report
from kzoo.compression.size import saved_model_size

__all__ = ["Distiller", "MagnitudePruning", "PolynomialSchedule", "saved_model_size", "soft_target_kl",
           "sparsity_report"]
