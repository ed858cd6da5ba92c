"""The layer rules of ARCHITECTURE.md, read from its table, and every kzoo import checked against them.

ARCHITECTURE.md's "Layers" table lists, top to bottom, which modules make up each layer; a module may
import only from its own layer or one above it. This module parses that table (so a renamed module is
followed as soon as the table names it), finds every import of a kzoo module under `kzoo/` with `ast`
(module level and inside functions), and says which break the rule. `tests/test_layers.py` enforces it;
`tools/dev/structure_counts.py` counts the function-level ones. Standard library only: no TensorFlow.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Imports that go down the table on purpose: (importing module, imported module) -> why.
ALLOWED = {
    # `kzoo.start()` loads TensorFlow through the tools' start-up filter; the facade reaches it only when
    # called (first use of a lazy name), so `import kzoo` stays light.
    ("kzoo", "kzoo.cli.quiet"): "kzoo.start(): TensorFlow loaded inside the tools' start-up filter, on first use",
}

# TODO(issue 32): genuine upward imports still in the code; each entry is a fix for another slice to make
# (then delete the line). (importing module, imported module) -> what is wrong.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}  # imports into a lower layer still to move (none today)


@dataclass(frozen=True)
class Layer:
    """One row of the table: its name (first column) and the paths its modules column names."""

    name: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Import:
    """One import of a kzoo module: who imports what, where, and whether inside a function."""

    importer: str
    target: str
    file: str
    line: int
    in_function: bool


def parse_layers(text: str) -> list[Layer]:
    """The layers of ARCHITECTURE.md's text `text`, top to bottom: each row's backticked paths in its
    "modules" column (a path ending in `/` is a folder). Raises ValueError when the table is missing."""
    match = re.search(r"^## Layers\b.*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not match:
        raise ValueError("ARCHITECTURE.md has no '## Layers' section")
    rows = [line for line in match.group(1).splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    column = header.index("modules")
    layers = []
    for row in rows[2:]:  # past the header and its |---| line
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        paths = tuple(re.findall(r"`([^`]+)`", cells[column]))
        layers.append(Layer(cells[0].replace("*", ""), paths))
    if not layers:
        raise ValueError("ARCHITECTURE.md's layer table has no rows")
    return layers


def read_layers(root: Path = ROOT) -> list[Layer]:
    """`parse_layers` of `root`/ARCHITECTURE.md."""
    return parse_layers((root / "ARCHITECTURE.md").read_text(encoding="utf-8"))


def module_name(path: Path, root: Path = ROOT) -> str:
    """The dotted name of the module in file `path` (`kzoo/data/__init__.py` is `kzoo.data`)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = ROOT, package: str = "kzoo") -> dict[str, Path]:
    """{dotted module name: file} of every module under `root`/`package`."""
    return {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}


def layers_of(path: Path, layers: list[Layer], root: Path = ROOT) -> list[int]:
    """The indices of the layers whose paths name file `path` (itself or a folder above it)."""
    relative = path.relative_to(root).as_posix()
    return [index for index, layer in enumerate(layers)
            if any(relative == p or (p.endswith("/") and relative.startswith(p)) for p in layer.paths)]


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    # `from kzoo.data import text` imports a module, `from kzoo.data import DataBundle` a name of kzoo.data.
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_in(path: Path, modules: dict[str, Path], root: Path = ROOT, package: str = "kzoo") -> list[Import]:
    """Every import of a module of `package` in file `path`: `import kzoo.x`, `from kzoo.x import y`
    and relative imports, at module level or inside a function (a class body counts as module level)."""
    importer = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = _package_of(importer, path)
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
                continue
            for name in names:
                if name == package or name.startswith(package + "."):
                    target = _resolve(name, modules)
                    item = Import(importer, target, path.relative_to(root).as_posix(), child.lineno, in_function)
                    if target is not None and item not in found:  # `from kzoo.x import a, b` is one import
                        found.append(item)

    visit(tree, False)
    return found


@dataclass(frozen=True)
class Report:
    """What `check` found: modules in no layer or several, and imports that go down the table."""

    unplaced: dict[str, list[str]]  # module -> the names of the layers that claim it (none or several)
    upward: list[Import]  # imports into a lower layer, allow-lists aside
    allowed: list[Import]  # imports into a lower layer that ALLOWED names
    known: list[Import]  # imports into a lower layer that KNOWN_VIOLATIONS names


def check(root: Path = ROOT, layers: list[Layer] | None = None, package: str = "kzoo",
          allowed: dict | None = None, known: dict | None = None) -> Report:
    """Check every module under `root`/`package` against `layers` (default: `root`'s ARCHITECTURE.md),
    setting aside the imports `allowed` (default ALLOWED) and `known` (default KNOWN_VIOLATIONS) name."""
    layers = read_layers(root) if layers is None else layers
    allowed = ALLOWED if allowed is None else allowed
    known = KNOWN_VIOLATIONS if known is None else known
    modules = package_modules(root, package)
    layer_of, unplaced = {}, {}
    for module, path in modules.items():
        indices = layers_of(path, layers, root)
        if len(indices) == 1:
            layer_of[module] = indices[0]
        else:
            unplaced[module] = [layers[i].name for i in indices]
    upward, set_aside, todo = [], [], []
    for module, path in modules.items():
        for item in imports_in(path, modules, root, package):
            if module not in layer_of or item.target not in layer_of or layer_of[item.target] <= layer_of[module]:
                continue
            pair = (item.importer, item.target)
            (set_aside if pair in allowed else todo if pair in known else upward).append(item)
    return Report(unplaced, upward, set_aside, todo)


def describe(item: Import, layers: list[Layer], root: Path = ROOT) -> str:
    """One line naming an import, where it is and the two layers it joins."""
    modules = package_modules(root)
    source = layers[layers_of(modules[item.importer], layers, root)[0]].name
    target = layers[layers_of(modules[item.target], layers, root)[0]].name
    where = "inside a function" if item.in_function else "at module level"
    return f"{item.file}:{item.line} {item.importer} ({source}) imports {item.target} ({target}), {where}"
