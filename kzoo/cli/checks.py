"""Argument checks the tools make before TensorFlow loads: each failure is one line and exit status 2.

The tools' parsers are `Parser`s, whose errors (argparse's own and these checks') are one
`error: ...` line, not the usage block. Entry names are read from the `@register_model` decorators
in `kzoo/models/` with `ast` (plus any entry already registered in this process), so an unknown
name is refused in milliseconds; `tests/test_cli_checks.py` keeps the list equal to the registry's.
"""

from __future__ import annotations

import argparse
import ast
import functools
import os
import sys
from pathlib import Path
from typing import Iterable, NoReturn

from kzoo import entries, schema

DATA_KEYWORDS = ("auto", "tfds", "synthetic")
_MODELS = Path(__file__).resolve().parent.parent / "models"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, `error: MESSAGE`, with exit status 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print `error: message` to stderr and exit 2."""
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def tool_parser(doc: str | None) -> Parser:
    """A `Parser` whose description is a tool's module docstring, kept as written."""
    return Parser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


@functools.lru_cache(maxsize=1)
def shipped_entries() -> dict[str, tuple[str, ...]]:
    """`{entry: aliases}` that `kzoo/models/` registers, read from its source without importing it."""
    found = {}
    for path in sorted(_MODELS.glob("[!_]*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                found.update(_registered(d, node.name) for d in node.decorator_list if _is_registration(d))
    return found


def _is_registration(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "register_model"


def _registered(decorator: ast.Call, function: str) -> tuple[str, tuple[str, ...]]:
    keywords = {k.arg: k.value for k in decorator.keywords}
    name = decorator.args[0] if decorator.args else keywords.get("name")
    aliases = keywords.get("aliases")
    return ast.literal_eval(name) if name else function, tuple(ast.literal_eval(aliases)) if aliases else ()


def entry_name(name: str) -> str | None:
    """The entry `name` (an entry or alias, any case) refers to, or None when there is none."""
    shipped = shipped_entries()
    names = {n.lower(): n for n in [*shipped, *entries._ENTRIES]}
    names.update((a.lower(), n) for n, aliases in shipped.items() for a in aliases)
    names.update((a.lower(), n) for a, n in entries._ALIASES.items())
    return names.get(name.lower())


def check_models(parser: argparse.ArgumentParser, names: Iterable[str], flag: str = "--model") -> None:
    """Refuse (one line, exit 2) a name that is no entry or alias, in any case, suggesting the closest."""
    shipped = shipped_entries()
    entry_names = sorted({*shipped, *entries._ENTRIES})
    known = [*entry_names, *(a for aliases in shipped.values() for a in aliases), *entries._ALIASES]
    for name in names:
        if entry_name(name) is None:
            parser.error(f"{flag}: unknown model {name!r}.{schema.did_you_mean(name, known, cutoff=0.5)} "
                         f"Available: {', '.join(entry_names)}")


def check_minimum(parser: argparse.ArgumentParser, args: argparse.Namespace, *dests: str, minimum: int = 1) -> None:
    """Refuse any of the numeric flags `dests` (argparse dest names) given below `minimum`."""
    for dest in dests:
        value = getattr(args, dest, None)
        if value is not None and value < minimum:
            parser.error(f"--{dest.replace('_', '-')} must be >= {minimum}, got {value}")


def check_exists(parser: argparse.ArgumentParser, flag: str, path: str | None, what: str = "file or folder") -> None:
    """Refuse a path the user named (`flag`: how, e.g. `--teacher`) that does not exist, or a folder where `what`
    is "file"."""
    if path is not None and not os.path.exists(os.path.expanduser(path)):
        parser.error(f"{flag}: {what} {path} does not exist")
    if path is not None and what == "file" and os.path.isdir(os.path.expanduser(path)):
        parser.error(f"{flag}: {path} is a directory; give a file")


def check_data(parser: argparse.ArgumentParser, data: str | None, keywords: Iterable[str] = DATA_KEYWORDS) -> None:
    """Refuse a `--data` that is neither one of `keywords` nor an existing path."""
    keywords = tuple(keywords)
    if data is not None and data not in keywords and not os.path.exists(os.path.expanduser(data)):
        parser.error(f"--data {data}: no such file or folder (give {', '.join(keywords)} or a PATH to your own files)")


def check_train_args(parser: argparse.ArgumentParser, args: argparse.Namespace, flag: str = "--model") -> None:
    """The checks of `add_train_arguments`' flags: the entry (named by `flag`), --config, --data, ranges, --strategy."""
    if args.model:
        check_models(parser, [args.model], flag)
    check_exists(parser, "--config", args.config_path, "file")
    check_data(parser, args.data)
    check_minimum(parser, args, "epochs", "batch_size")
    check_minimum(parser, args, "seed", minimum=0)
    if args.strategy is not None and args.strategy not in schema.STRATEGIES:
        hint = schema.did_you_mean(args.strategy, list(schema.STRATEGIES))
        parser.error(f"--strategy: unknown strategy {args.strategy!r}.{hint} Valid: {', '.join(schema.STRATEGIES)}")
