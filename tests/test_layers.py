"""ARCHITECTURE.md's layer table holds: every kzoo module sits in one layer and imports only from its own
layer or the ones above it (function-level imports included), checked with `ast` by `tools/dev/layers.py`.
Also the checker itself and `tools/dev/structure_counts.py` (issue 32's figures) on a tiny package tree."""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "tools" / "dev"


def _load_layers():
    # tools/dev is not a package: load layers.py by path (registered, so its dataclasses resolve).
    spec = importlib.util.spec_from_file_location("kzoo_dev_layers", DEV / "layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


layers = _load_layers()


def test_every_kzoo_module_is_in_exactly_one_layer():
    report = layers.check(ROOT)
    assert not report.unplaced, (
        "modules that ARCHITECTURE.md's layer table names in no row or in several (add each to one row): "
        + ", ".join(f"{module} {claims or '(no row)'}" for module, claims in report.unplaced.items()))


def test_no_kzoo_module_imports_from_a_layer_below_its_own():
    table = layers.read_layers(ROOT)
    report = layers.check(ROOT)
    lines = [layers.describe(item, table, ROOT) for item in report.upward]
    assert not lines, "imports from a lower layer (move the code, or fix ARCHITECTURE.md's table):\n" + "\n".join(lines)


def test_every_allow_list_entry_is_still_needed():
    report = layers.check(ROOT)
    used = {(i.importer, i.target) for i in [*report.allowed, *report.known]}
    stale = (set(layers.ALLOWED) | set(layers.KNOWN_VIOLATIONS)) - used
    assert not stale, f"allow-list entries no import needs any more (delete them from tools/dev/layers.py): {stale}"


def _write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


TABLE = """\
    # tiny

    ## Layers (each imports only from the ones above it in this list)

    | layer | modules | job |
    |---|---|---|
    | base | `kzoo/__init__.py`, `kzoo/config.py`, `kzoo/base.py` | the bottom of everything |
    | **training** | `kzoo/training/` | the runner |
    | fronts | `kzoo/cli/`, `tools/` | command lines |

    ## Next section
    | not | a `kzoo/layer.py` | row |
"""

TINY_TREE = {
    "ARCHITECTURE.md": TABLE,
    "kzoo/__init__.py": "",
    "kzoo/config.py": """\
        SECTIONS = ("model", "train")
        epochs = {"train": {}}["train"]  # the config module itself is not counted
    """,
    "kzoo/base.py": """\
        import kzoo.cli.main  # module level, upward: a layer failure, not a function-level one
        from kzoo import config


        def lr(config, other):
            from kzoo.training import runner  # function level, upward

            return float(config["model"]["lr"]), config["train"]["epochs"], other["other"]


        def summary(metrics):
            return metrics["train"]  # a section's name on a dict that is not a config: not counted
    """,
    "kzoo/training/__init__.py": "from kzoo.base import lr\n",
    "kzoo/training/runner.py": """\
        from kzoo import tasks


        def train(model, *, data=None, epochs=1, **kwargs):
            train = kwargs["config"]["train"]
            return get_task(model), tasks.get_task(model), int(train["epochs"])
    """,
    "kzoo/training/helper.py": """\
        def go():
            from ..cli import main  # relative, function level, upward

            return main
    """,
    "kzoo/cli/__init__.py": "",
    "kzoo/cli/main.py": """\
        def main():
            from kzoo.training import runner  # a front reaching up: allowed

            return runner
    """,
    "kzoo/stray.py": "",
    "tools/t.py": "get_task('mlp')\n",
}


def test_the_checker_finds_upward_imports_at_any_depth_and_unplaced_modules(tmp_path):
    root = _write(tmp_path, TINY_TREE)
    table = layers.read_layers(root)
    assert [(layer.name, layer.paths) for layer in table] == [
        ("base", ("kzoo/__init__.py", "kzoo/config.py", "kzoo/base.py")), ("training", ("kzoo/training/",)),
        ("fronts", ("kzoo/cli/", "tools/"))]
    report = layers.check(root, allowed={}, known={})
    assert report.unplaced == {"kzoo.stray": []}
    assert sorted((i.importer, i.target, i.line, i.in_function) for i in report.upward) == [
        ("kzoo.base", "kzoo.cli.main", 1, False), ("kzoo.base", "kzoo.training.runner", 6, True),
        ("kzoo.training.helper", "kzoo.cli.main", 2, True)]
    set_aside = layers.check(root, allowed={("kzoo.base", "kzoo.cli.main"): "why"},
                             known={("kzoo.training.helper", "kzoo.cli.main"): "todo"})
    assert [i.target for i in set_aside.upward] == ["kzoo.training.runner"]
    assert [i.importer for i in set_aside.allowed] == ["kzoo.base"]
    assert [i.importer for i in set_aside.known] == ["kzoo.training.helper"]
    claimed_twice = TABLE.replace("| fronts | `kzoo/cli/`", "| fronts | `kzoo/cli/`, `kzoo/base.py`")
    _write(tmp_path, {"ARCHITECTURE.md": claimed_twice})
    assert layers.check(root).unplaced == {"kzoo.base": ["base", "fronts"], "kzoo.stray": []}


def _counts(root, *args):
    return subprocess.run([sys.executable, str(DEV / "structure_counts.py"), "--root", str(root), *args],
                          capture_output=True, text=True)


def test_structure_counts_of_a_tiny_tree(tmp_path):
    root = _write(tmp_path, TINY_TREE)
    done = _counts(root, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"section_subscripts": 3, "get_task_calls": 3, "train_parameters": 4,
                                       "disallowed_function_imports": 2, "coerced_section_reads": 2}
    table = _counts(root).stdout.splitlines()
    assert table[0].split() == ["figure", "count", "limit"]
    assert table[4].split() == ["disallowed_function_imports", "2", "0", "over"]
    assert _counts(root, "--check").returncode == 1  # two function-level imports up the table
    _write(tmp_path, {"kzoo/training/helper.py": "", "kzoo/base.py": "import kzoo.cli.main\n"})
    assert _counts(root, "--check").returncode == 0
