"""Model compression: knowledge distillation into small students, and magnitude pruning.

- `distill_run(teacher_run, student_entry, ...)` (`tools/distill.py`) trains a student run with
  a `Distiller` (config section `distill: {temperature, alpha}`).
- Pruning is a training option of every entry: `--set prune.target_sparsity=0.8` (config section
  `prune`, see `kzoo.compression.prune`).
- `saved_model_size(dir)` measures an export raw and gzip-compressed.
"""

from kzoo.compression.distill import Distiller, soft_target_kl
from kzoo.compression.prune import MagnitudePruning, PolynomialSchedule, sparsity_report
from kzoo.compression.size import saved_model_size
from kzoo.compression.student_run import distill_run

__all__ = ["Distiller", "MagnitudePruning", "PolynomialSchedule", "distill_run", "saved_model_size",
           "soft_target_kl", "sparsity_report"]
