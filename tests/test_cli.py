"""The console scripts in setup.cfg, their `kzoo.cli` entry functions, and the thin `tools/` fronts."""

import ast
import configparser
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("train", "distill", "evaluate", "export", "publish", "predict", "benchmark", "data_benchmark", "launch_local",
         "tune", "serve")


def console_scripts() -> dict[str, str]:
    """`{script name: "module:function"}` from setup.cfg's `[options.entry_points]`."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=", 1)) for line in lines)


def entry_function(target: str):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level and n.module}
    return {name.split(".")[0] for name in names}


def test_every_tool_has_a_console_script_whose_target_is_callable():
    scripts = console_scripts()
    assert scripts == {f"kzoo-{tool.replace('_', '-')}": f"kzoo.cli.{tool}:run" for tool in TOOLS}
    for target in scripts.values():
        assert callable(entry_function(target)), target


@pytest.mark.parametrize("tool", TOOLS)
def test_console_entry_prints_the_usage(tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        entry_function(console_scripts()[f"kzoo-{tool.replace('_', '-')}"])(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")


def test_console_entry_reports_bad_input_in_one_line(tmp_path, capsys):
    from kzoo.cli import evaluate, predict, train

    for run, argv, message in ((train.run, ["--model", "no_such_entry"], "unknown model 'no_such_entry'"),
                               (evaluate.run, [str(tmp_path / "missing")], "is not a finished run directory"),
                               (predict.run, [str(tmp_path), "--text", "x"], "holds no SavedModel")):
        with pytest.raises(SystemExit) as exit_info:
            run(argv)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and err.startswith("error: ") and message in err, err
        assert len(err.splitlines()) == 1 and "Traceback" not in err


def optional_imports(path: Path) -> set[str]:
    """Top-level names imported only inside a `try:` whose handler catches ImportError."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(getattr(h.type, "id", None) == "ImportError" for h in node.handlers):
            names |= {n.module.split(".")[0] for n in node.body if isinstance(n, ast.ImportFrom) and n.module}
    return names


def test_predict_module_needs_tensorflow_only(tmp_path):
    # kzoo/cli/predict.py is the file a serving machine gets alone: no Keras, and kzoo only if it is there
    # (LiteRT / ONNX exports need their runtime, not TensorFlow).
    path = ROOT / "kzoo" / "cli" / "predict.py"
    assert optional_imports(path) == {"kzoo"}
    assert imported_modules(path) - optional_imports(path) <= {
        "__future__", "argparse", "contextlib", "json", "os", "sys", "numpy", "tensorflow", "tensorflow_text",
        "ai_edge_litert", "onnxruntime"}  # the last two only for LiteRT / ONNX exports
    alone = tmp_path / "predict.py"  # copied alone, where kzoo cannot be imported: it still runs
    alone.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    script = ("import builtins, runpy, sys\nreal = builtins.__import__\n"
              "def no_kzoo(name, *a, **k):\n    if name.startswith('kzoo'): raise ImportError(name)\n"
              "    return real(name, *a, **k)\nbuiltins.__import__ = no_kzoo\n"
              f"sys.argv = ['predict.py', {str(tmp_path)!r}, '--text', 'x']\nrunpy.run_path({str(alone)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "holds no SavedModel" in proc.stderr, proc.stderr


def test_kzoo_trains_flags_are_the_train_requests_fields_with_its_defaults():
    import dataclasses

    from kzoo.cli import train as train_tool
    from kzoo.train_request import TrainRequest

    args = vars(train_tool.build_parser().parse_args(["--model", "mlp"]))
    own = {"help", "verbose", "list_models", "describe", "init_from"}  # the tool's, not the request's
    flags = {name: value for name, value in args.items() if name not in own}
    fields = {f.name for f in dataclasses.fields(TrainRequest)}
    assert set(flags) == fields - {"verbose", "test"}  # fit verbosity and test=False: Python callers' only
    assert {**dataclasses.asdict(TrainRequest(**flags)), "overrides": ()} == dataclasses.asdict(TrainRequest("mlp"))


@pytest.mark.parametrize("tool", TOOLS)
def test_tools_are_thin_fronts_of_kzoo_cli(tool):
    source = (ROOT / "tools" / f"{tool}.py").read_text(encoding="utf-8")
    assert f"from kzoo.cli.{tool} import" in source and "sys.path" not in source
    assert len([line for line in source.splitlines() if line.strip()]) <= 8


def test_the_library_never_imports_scripts_or_edits_sys_path():
    for path in (ROOT / "kzoo").rglob("*.py"):
        assert not imported_modules(path) & {"benchmarks", "tools"}, path
        assert "sys.path" not in path.read_text(encoding="utf-8"), path
