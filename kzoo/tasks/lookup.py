"""Finding a task: by name or from a resolved config; the package's task modules are found by import.

`discover()` imports every module of the `kzoo.tasks` package once (`import kzoo.tasks` calls it),
so a new task module registers itself, and the Keras objects it registers (metrics a saved model
names), without being listed anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Mapping

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


def list_tasks() -> list[str]:
    """The names of every registered task, sorted."""
    discover()
    return sorted(base.registered_tasks())


__all__ = ["Task", "get_task", "list_tasks"]
