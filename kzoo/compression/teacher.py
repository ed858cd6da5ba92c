"""Distillation as a trainer plug-in: a run of a zoo entry trained as the student of a finished teacher run.

The student's run is an ordinary run: the trainer builds the student, `Distillation.wrap_model` puts
it in a `Distiller` with the teacher for `fit` only, and everything written (model.keras, best.keras,
metrics.json, the export) is the student alone. `distill.teacher` in its config.yaml records the
teacher's run directory. Students reuse the teacher's preprocessing (a text student reads the
teacher's token ids). `kzoo.training.distill_run` is the one-call front (`tools/distill.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from kzoo.compression.distiller import Distiller
from kzoo.compression.size import saved_model_size
from kzoo.errors import ConfigError
from kzoo.plugin import RunPlugin
from kzoo.run_dir import RunDir
from kzoo.tasks import list_tasks


def is_student(config: Mapping) -> bool:
    """Whether the config is a distillation student's (`distill.teacher` is set)."""
    return bool(config.get("distill", {}).get("teacher"))


class Distillation(RunPlugin):
    """Trainer plug-in: train the run's model as the student of `teacher` (a finished run directory).

    Without a teacher (the default plug-in every run has) it only refuses a student config, which
    needs its teacher: train or resume students through `kzoo.training.distill_run`.
    """

    def __init__(self, teacher: str | os.PathLike | None = None):
        self.teacher = RunDir.open(teacher, "teacher run") if teacher is not None else None
        self.teacher_config = self.teacher.config() if self.teacher else None
        if self.teacher and not self.teacher_config.task_object.distillable:
            supported = list_tasks(lambda task: task.distillable)
            raise ConfigError(f"teacher {self.teacher_config.get('entry')!r} is a {self.teacher_config['task']} model; "
                              f"distillation supports {', '.join(supported)}")
        self._preprocessor = self.teacher.preprocessor(self.teacher_config) if self.teacher else None

    @property
    def teacher_dir(self) -> Path | None:
        """The teacher's run directory, resolved (what the student's config records)."""
        return self.teacher.path.resolve() if self.teacher else None

    def check(self, config: Mapping) -> None:
        """A student needs this plug-in's teacher; the student must read its inputs and predict its classes."""
        if self.teacher is None:
            if is_student(config):
                raise ConfigError(f"distill.teacher is set ({config.distill.teacher}): train or resume a student "
                                  "with tools/distill.py --teacher RUN_DIR (kzoo.training.distill_run)")
            return
        recorded = Path(config.distill.teacher or ".").resolve()
        if recorded != self.teacher_dir:
            raise ConfigError(f"this run was distilled from {str(recorded)!r}, not {str(self.teacher_dir)!r}")
        teacher = self.teacher_config
        if config.task != teacher.task:
            raise ConfigError(f"student {config.entry!r} and teacher {teacher['entry']!r} differ in task: "
                              f"{config.task} vs {teacher['task']}")
        config.task_object.check_student(teacher, config, self._preprocessor)

    def preprocessor(self, config: Mapping):
        """The teacher's preprocessing (None for image teachers): both read the same inputs."""
        return self._preprocessor

    def wrap_model(self, net, config: Mapping):
        """A `Distiller` of `net` and the frozen teacher, with the config's temperature and alpha."""
        if self.teacher is None:
            return None
        teacher_model = self.teacher.load_model()
        t, s = tuple(teacher_model.outputs[0].shape[1:]), tuple(net.outputs[0].shape[1:])
        if t != s:  # the config checks cover the usual cases; the built models must agree too
            raise ConfigError(f"{config.entry} <- {self.teacher_config['entry']}: teacher and student have "
                              f"different output shapes: {t} vs {s}")
        return Distiller(net, teacher_model, config.distill.temperature, config.distill.alpha)

    def metrics(self, net, config: Mapping, total_steps: int | None) -> dict:
        """`metrics.json`'s `distill` entry (teacher, temperature, alpha) for students."""
        return {"distill": dict(config.distill)} if is_student(config) else {}

    def after_export(self, metrics: dict, export_dir) -> None:
        """The student's export size, in the `distill` entry."""
        if "distill" in metrics:
            metrics["distill"]["saved_model"] = saved_model_size(export_dir)
