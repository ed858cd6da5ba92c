"""Finding a task: by name or from a resolved config; the package's task modules are found by import.

`discover()` imports every module of the `kzoo.tasks` package once (`import kzoo.tasks` calls it),
so a new task module registers itself, and the Keras objects it registers (metrics a saved model
names), without being listed anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Mapping

from kzoo.tasks import base
from kzoo.tasks.base import Task

_discovered = False


def discover() -> None:
    """Import every module of the `kzoo.tasks` package (each registers its Task); idempotent."""
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("kzoo.tasks")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"kzoo.tasks.{module.name}")
    _discovered = True


def get_task(name_or_config: str | Mapping) -> Task:
    """The registered `Task` named `name`, or the task of a resolved config (`config.task`)."""
    discover()
    name = name_or_config.get("task") if isinstance(name_or_config, Mapping) else name_or_config
    return base.lookup_task(name)


def list_tasks(where: Callable[[Task], bool] | None = None) -> list[str]:
    """The names of the registered tasks, sorted; with `where`, those whose Task it accepts
    (`list_tasks(lambda task: task.distillable)`: what an error lists as supported)."""
    discover()
    names = sorted(base.registered_tasks())
    return [name for name in names if where(base.lookup_task(name))] if where else names


__all__ = ["Task", "get_task", "list_tasks"]
