"""The portable runtimes kzoo exports to, the packages each needs, and the `--format` list (no TensorFlow here).

The command-line tools read this before TensorFlow loads, so a missing converter or an unknown
format is one line at once.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Iterable

INSTALL_HINT = 'pip install -e ".[runtimes]"'


@dataclass(frozen=True)
class Runtime:
    """One portable runtime: its model file, the modules its converter and checker import, their packages."""

    name: str
    file: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]
    quantize_modes: tuple[str, ...]


# `tf.lite.TFLiteConverter` ships with TensorFlow; the stock interpreter that checks it is ai-edge-litert.
RUNTIMES = {
    "litert": Runtime("litert", "model.tflite", ("ai_edge_litert",), ("ai-edge-litert",), ("int8",)),
    "onnx": Runtime("onnx", "model.onnx", ("tf2onnx", "onnxruntime"), ("tf2onnx", "onnxruntime"), ()),
}
FORMATS = ("savedmodel", *RUNTIMES)


def missing_packages(runtime: str) -> list[str]:
    """The packages `runtime` needs that are not installed (found without importing them)."""
    spec = RUNTIMES[runtime]
    return [package for module, package in zip(spec.modules, spec.packages) if importlib.util.find_spec(module) is None]


def install_message(runtime: str) -> str | None:
    """One line saying what to install for `runtime`, or None when nothing is missing."""
    missing = missing_packages(runtime)
    if not missing:
        return None
    return f"--format {runtime} needs {' and '.join(missing)}, which is not installed: {INSTALL_HINT}"


def parse_formats(values: Iterable[str] | None) -> list[str]:
    """`--format` values (repeatable, each a comma list) as a list without repeats; default ["savedmodel"].

    Raises ValueError naming an unknown format and the valid ones.
    """
    formats: list[str] = []
    for value in values or ["savedmodel"]:
        for name in (part.strip().lower() for part in value.split(",")):
            if name not in FORMATS:
                raise ValueError(f"unknown format {name!r}; valid: {', '.join(FORMATS)} (comma list or repeated)")
            if name not in formats:
                formats.append(name)
    return formats
