"""Publish a kzoo preset to the Hugging Face Hub or Kaggle Models; print its URL.

    python tools/publish.py presets/lstm-imdb --to hf://my-org/lstm-imdb
    python tools/publish.py presets/lstm-imdb --to kaggle://me/lstm-imdb/keras/tiny
    python tools/publish.py presets/lstm-imdb --check          # only validate it

The preset (written by `tools/export.py RUN --preset DIR`) is validated first: every file present
and unchanged, the model and preprocessor load. The local preset is never modified. Needs a token
(`huggingface-cli login`, or Kaggle's credentials) and a network; offline it fails at once.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from kzoo.cli.common import add_verbose_argument, framework_start, run_tool


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), validate the preset, upload it, print the URL; return 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset", help="a preset directory (tools/export.py RUN --preset DIR)")
    parser.add_argument("--to", default=None, help="hf://org/name or kaggle://owner/model/keras/variant")
    parser.add_argument("--check", action="store_true", help="validate the preset and upload nothing")
    parser.add_argument("--private", action="store_true", help="create the Hugging Face repository private")
    parser.add_argument("--message", default=None, help="commit message / version notes")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not args.check and not args.to:
        parser.error("the following arguments are required: --to (or --check)")
    with framework_start(args.verbose):  # imported after parsing: TensorFlow takes seconds to load (start-up latency)
        from kzoo.presets.publish import publish, validate

    if args.check:
        preset = validate(args.preset)
        print(f"kzoo: {preset.path} is a complete {preset.entry} preset")
        return 0
    print(publish(args.preset, args.to, private=args.private, message=args.message))
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-publish`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
