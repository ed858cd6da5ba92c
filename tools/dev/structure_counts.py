"""Count issue 32's "Done when" figures in the source, with `ast` (no kzoo import, no TensorFlow).

    python tools/dev/structure_counts.py            # a table: figure, count, limit
    python tools/dev/structure_counts.py --json     # the same as one JSON object {figure: count}
    python tools/dev/structure_counts.py --where    # and each counted site, file:line
    python tools/dev/structure_counts.py --check    # exit 1 when a figure is above its limit

Figures: subscripts of a config section by name (`config["train"]`, for each name in `kzoo/config.py`'s
`SECTIONS`, on an expression named as a config: `_is_config`) outside the config modules; `get_task(...)` calls in `kzoo/` and `tools/`; the parameters of
`kzoo.training.runner.train`; function-level kzoo imports that `tests/test_layers.py` does not allow
(`tools/dev/layers.py`); `int(...)` / `float(...)` around a read of a config section (no limit).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import layers

CONFIG_MODULE = "kzoo/config.py"
RUNNER = "kzoo/training/runner.py"
# Issue 32's limits; None: counted, no limit set.
LIMITS = {"section_subscripts": 10, "get_task_calls": 6, "train_parameters": 4, "disallowed_function_imports": 0,
          "coerced_section_reads": None}


def _trees(root: Path, folders: tuple[str, ...], exclude: tuple[str, ...] = ()):
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative not in exclude:
                yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def _sorted(sites: list[tuple[str, int]]) -> list[str]:
    return [f"{file}:{line}" for file, line in sorted(sites)]


def section_names(root: Path) -> tuple[str, ...]:
    """The config section names: the string tuple assigned to `SECTIONS` in the config module."""
    tree = ast.parse((root / CONFIG_MODULE).read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0] if isinstance(node, ast.Assign) \
            else None
        if isinstance(target, ast.Name) and target.id == "SECTIONS":
            return tuple(ast.literal_eval(node.value))
    raise SystemExit(f"error: no SECTIONS = (...) in {CONFIG_MODULE}")


# Names a config goes by besides `*config*` (a teacher's, a student's, a resumed run's).
CONFIG_NAMES = {"cfg", "teacher", "student", "saved", "resolved", "refit", "asked", "changed"}


def _is_config(node: ast.AST) -> bool:
    """Whether an expression is (by its name) a config: `config`, `self.config`, `run.config()`,
    `kwargs["config"]`, `teacher`; `metrics["train"]` or `pairs["train"]` are other dicts."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return "config" in str(node.slice.value)
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "config" in name or name in CONFIG_NAMES


def _is_section_subscript(node: ast.AST, sections: tuple[str, ...]) -> bool:
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value in sections and _is_config(node.value))


def _is_section_read(node: ast.AST, sections: tuple[str, ...]) -> bool:
    # `config["train"]` today; `config.train` / `self.config.train` once the config is typed.
    if _is_section_subscript(node, sections):
        return True
    if isinstance(node, ast.Attribute) and node.attr in sections:
        owner = node.value
        return (isinstance(owner, ast.Name) and owner.id == "config") or (
            isinstance(owner, ast.Attribute) and owner.attr == "config")
    return False


def section_subscripts(root: Path, sections: tuple[str, ...]) -> list[str]:
    """`file:line` of every `x["<section>"]` in kzoo/ outside the config module."""
    config_modules = (CONFIG_MODULE, "kzoo/run_config.py")
    return _sorted([(file, node.lineno) for file, tree in _trees(root, ("kzoo",), config_modules)
                    for node in ast.walk(tree) if _is_section_subscript(node, sections)])


def get_task_calls(root: Path) -> list[str]:
    """`file:line` of every call of `get_task` (as a name or an attribute) in kzoo/ and tools/."""
    def called(node):
        return isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "get_task")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "get_task"))

    return _sorted([(file, node.lineno) for file, tree in _trees(root, ("kzoo", "tools")) for node in ast.walk(tree)
                    if called(node)])


def train_parameters(root: Path) -> list[str]:
    """The parameter names of the module-level `train` function in the runner."""
    tree = ast.parse((root / RUNNER).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "train":
            args = node.args
            named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            rest = [f"*{args.vararg.arg}"] if args.vararg else []
            rest += [f"**{args.kwarg.arg}"] if args.kwarg else []
            return [a.arg for a in named] + rest
    raise SystemExit(f"error: no def train(...) in {RUNNER}")


def disallowed_function_imports(root: Path) -> list[str]:
    """Function-level kzoo imports going down ARCHITECTURE.md's layer table that `layers.ALLOWED` does not
    name (the `KNOWN_VIOLATIONS` still to fix included), as `file:line importer -> target`."""
    report = layers.check(root, known={})
    return [f"{i.file}:{i.line} {i.importer} -> {i.target}" for i in report.upward if i.in_function]


def _reads_a_section(node: ast.AST, sections: tuple[str, ...], bound: set[str]) -> bool:
    # A section itself, or a key of a name bound to one (`train = config["train"]`; `train["epochs"]`,
    # `train.get("epochs")`, `train.epochs`).
    for inner in ast.walk(node):
        if _is_section_read(inner, sections):
            return True
        owner = inner.value if isinstance(inner, (ast.Subscript, ast.Attribute)) else None
        if isinstance(owner, ast.Name) and owner.id in bound:
            return True
    return False


def _section_names_bound(scope: ast.AST, sections: tuple[str, ...]) -> set[str]:
    # `train = config["train"]`, `data, model = config["data"], config["model"]`, or a parameter named
    # after a section and typed as a mapping (`def make_optimizer(train: Mapping)`).
    bound = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and isinstance(
                    node.value, ast.Tuple) else [(target, node.value)]
                bound |= {name.id for name, value in pairs
                          if isinstance(name, ast.Name) and _is_section_read(value, sections)}
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = [*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs]
        bound |= {a.arg for a in arguments if a.arg in sections and a.annotation is not None
                  and any(word in ast.unparse(a.annotation) for word in ("Mapping", "dict"))}
    return bound


def coerced_section_reads(root: Path, sections: tuple[str, ...]) -> list[str]:
    """`file:line` of every `int(...)` / `float(...)` whose argument reads a config section (directly, or
    through a name the same function bound to a section), in kzoo/ outside the config module."""
    found = set()
    for file, tree in _trees(root, ("kzoo",), (CONFIG_MODULE,)):
        for scope in ast.walk(tree):
            if not isinstance(scope, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            bound = _section_names_bound(scope, sections)
            for node in ast.walk(scope):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "float")
                        and any(_reads_a_section(arg, sections, bound) for arg in node.args)):
                    found.add((file, node.lineno, node.col_offset))
    return [f"{file}:{line}" for file, line, _ in sorted(found)]


def count(root: Path) -> dict[str, list[str]]:
    """{figure: the sites counted} for the tree at `root`."""
    sections = section_names(root)
    return {
        "section_subscripts": section_subscripts(root, sections),
        "get_task_calls": get_task_calls(root),
        "train_parameters": train_parameters(root),
        "disallowed_function_imports": disallowed_function_imports(root),
        "coerced_section_reads": coerced_section_reads(root, sections),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the figures of the tree at `--root` (default: this repository); 1 with `--check` when one is
    above its limit, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=layers.ROOT, help="repository root (default: this one)")
    parser.add_argument("--json", action="store_true", help="print {figure: count} as JSON")
    parser.add_argument("--where", action="store_true", help="also list each counted site")
    parser.add_argument("--check", action="store_true", help="exit 1 when a figure is above issue 32's limit")
    args = parser.parse_args(argv)
    sites = count(args.root.resolve())
    figures = {name: len(found) for name, found in sites.items()}
    over = [name for name, value in figures.items() if LIMITS[name] is not None and value > LIMITS[name]]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        width = max(map(len, figures))
        print(f"{'figure':<{width}}  count  limit")
        for name, value in figures.items():
            limit = "-" if LIMITS[name] is None else LIMITS[name]
            print(f"{name:<{width}}  {value:>5}  {limit:>5}{'  over' if name in over else ''}")
    if args.where:
        for name, found in sites.items():
            print(f"\n{name}:", *found, sep="\n  ", file=sys.stderr if args.json else sys.stdout)
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
