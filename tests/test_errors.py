"""Every kzoo error is a `KzooError` defined in `kzoo/errors.py`, and the tools turn each into its exit status."""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import kzoo.errors
from kzoo.cli.common import run_tool
from kzoo.errors import KzooError

ROOT = Path(__file__).resolve().parent.parent
ERRORS_FILE = ROOT / "kzoo" / "errors.py"
SUFFIXES = ("Error", "Diverged", "Interrupted")


def error_classes(path: Path) -> list[ast.ClassDef]:
    """The classes named *Error / *Diverged / *Interrupted defined anywhere in `path` (nested ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name.endswith(SUFFIXES)]


def standins(path: Path) -> set[str]:
    """Names defined in an `except ImportError:` block whose `try` imports them from kzoo.errors.

    `kzoo/cli/predict.py` is copied alone to serving machines, where kzoo is not installed: its
    `UsageError` falls back to a local class only there.
    """
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Try) and any(getattr(h.type, "id", None) == "ImportError" for h in node.handlers):
            imported = {a.name for n in node.body if isinstance(n, ast.ImportFrom) and n.module == "kzoo.errors"
                        for a in n.names}
            defined = {n.name for h in node.handlers for n in h.body if isinstance(n, ast.ClassDef)}
            names |= imported & defined
    return names


def test_every_kzoo_error_is_a_kzoo_error_defined_in_errors_py():
    outside = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
               for path in sorted((ROOT / "kzoo").rglob("*.py")) if path != ERRORS_FILE
               for node in error_classes(path) if node.name not in standins(path)]
    assert outside == [], f"define these in kzoo/errors.py, deriving from KzooError: {outside}"
    classes = [c for _, c in inspect.getmembers(kzoo.errors, inspect.isclass) if c.__module__ == "kzoo.errors"]
    assert {c.__name__ for c in classes} >= {node.name for node in error_classes(ERRORS_FILE)} | {"UsageError"}
    assert [c for c in classes if not issubclass(c, KzooError)] == []


def test_errors_keep_the_built_in_types_callers_catch():
    e = kzoo.errors
    for error, base in ((e.ConfigError, ValueError), (e.PresetError, e.ConfigError), (e.UnknownModelError, KeyError),
                        (e.DataUnavailableError, FileNotFoundError), (e.DataError, ValueError),
                        (e.RunDirError, ValueError), (e.ExportError, ValueError), (e.StrategyError, RuntimeError),
                        (e.TrainingDiverged, RuntimeError), (e.TrainingInterrupted, KeyboardInterrupt)):
        assert issubclass(error, base), (error, base)
    assert str(e.UnknownModelError("unknown model 'x'")) == "unknown model 'x'"  # not KeyError's quoted repr
    assert str(e.DataUnavailableError("not prepared")) == "not prepared"  # not OSError's (errno, strerror)


def test_importing_kzoo_errors_loads_no_framework():
    script = "import sys, kzoo.errors; print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def _raising(error: BaseException):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error, status", [
    (kzoo.errors.ConfigError("bad value"), 2),
    (kzoo.errors.UnknownModelError("unknown model 'lsmt'"), 2),
    (kzoo.errors.DataUnavailableError("imdb is not prepared"), 2),
    (kzoo.errors.ConversionError("op X has no ONNX mapping"), 2),
    (FileNotFoundError("no such file"), 2),
    (kzoo.errors.TrainingDiverged("loss is nan"), 1),
    (kzoo.errors.TrainingInterrupted("interrupted at epoch 2; continue with --resume"), 130),
])
def test_the_tools_print_a_kzoo_error_in_one_line_with_its_status(error, status, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_tool(_raising(error), [])
    assert exit_info.value.code == status
    assert capsys.readouterr().err == f"error: {error.args[0]}\n"


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ValueError, match="a bug"):
        run_tool(_raising(ValueError("a bug")), [])

