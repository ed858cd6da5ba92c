"""TensorFlow's start-up lines hidden from the tools' output unless `--verbose`.

TensorFlow 2.21 prints its first C++ log lines (absl's "before absl::InitializeLog()" warning, oneDNN,
cudart, cuInit) from library initialisers that ignore `TF_CPP_MIN_LOG_LEVEL` and write straight to
file descriptor 2, once per copy of absl it loads (twice). No environment variable silences them
(abseil/abseil-cpp#1718, #1957), so `framework_start` passes stderr through a filter while the
tool imports TensorFlow and lists the devices, and drops only the known start-up lines; everything
else, Python warnings included, still reaches stderr. After that window stderr is left alone.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import threading
from typing import Iterator

NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} \S+ +\d+ \S+:\d+\] "  # any C++ INFO line (oneDNN, cudart_stub, cpu_feature_guard, ...)
    r"|[WE]\d{4} \S+ +\d+ (cuda_\w+|cudart_stub|cpu_feature_guard|computation_placer)\.cc:\d+\] "
    r"|[WE]\d{4} .*TF-TRT Warning"
    r"|To enable the following instructions: .*rebuild TensorFlow"  # cpu_feature_guard's second line
)


def is_noise(line: str) -> bool:
    """Whether `line` is one of TensorFlow's start-up log lines that `framework_start` drops."""
    return NOISE.match(line) is not None


_OPEN_WINDOWS = 0  # framework_start windows open now: inside a tool's window, `quiet_import` leaves it to the tool


def _counted(window):
    """`window` (a context manager function) counted in `_OPEN_WINDOWS` while it is open."""
    @functools.wraps(window)
    @contextlib.contextmanager
    def counted(verbose: bool = False) -> Iterator[None]:
        global _OPEN_WINDOWS
        _OPEN_WINDOWS += 1
        try:
            with window(verbose):
                yield
        finally:
            _OPEN_WINDOWS -= 1
    return counted


@_counted
@contextlib.contextmanager
def framework_start(verbose: bool = False) -> Iterator[None]:
    """Context for a tool's TensorFlow imports: its start-up lines are dropped unless `verbose`.

    Quiet (the default), it also sets `TF_CPP_MIN_LOG_LEVEL=3` when the environment asks for less
    (with the common 2, TensorFlow's C++ ERROR lines such as "E0000 ... oneDNN supports DT_BOOL only
    on platforms with AVX-512" reach the output mid-run, long after this window), lists the devices
    inside the window (CUDA prints its platform lines then), and lowers TensorFlow's Python logger
    to warnings ("Assets written to ..." is an INFO line). `--verbose` leaves the environment as it is.
    """
    if verbose:
        yield
        return
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "")
    if not (level.isdigit() and int(level) >= 3):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _filtered_stderr():
        yield
        tf = sys.modules.get("tensorflow")
        if tf is not None:
            tf.config.list_physical_devices()
    if tf is not None:
        tf.get_logger().setLevel(logging.WARNING)


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
    """Route file descriptor 2 through `is_noise` while inside."""
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError):  # no usable stderr: nothing to filter
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    pump = threading.Thread(target=_forward, args=(read_end, original), daemon=True)
    pump.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the pump reads to its end and stops
        pump.join(timeout=10)


def _forward(read_end: int, target: int) -> None:
    with open(read_end, "rb", buffering=0) as source, open(target, "wb", buffering=0) as sink:
        pending = b""
        while chunk := source.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if not is_noise(line.decode(errors="replace")):
                    sink.write(line + b"\n")
        if pending and not is_noise(pending.decode(errors="replace")):
            sink.write(pending)


def quiet_import(verbose: bool | None = None) -> None:
    """Import TensorFlow and Keras once, inside `framework_start(verbose)`; nothing when already imported.

    The Python API's first use calls it, so a script is as quiet as the tools; `verbose=None` reads the
    environment variable `KZOO_VERBOSE` (1: show the start-up lines). Inside a tool's own window it does nothing.
    """
    if "tensorflow" in sys.modules or _OPEN_WINDOWS:
        return
    if verbose is None:
        verbose = os.environ.get("KZOO_VERBOSE", "") not in ("", "0")
    with framework_start(verbose):
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
