"""Export a finished run as a TensorFlow SavedModel, a LiteRT or an ONNX model; print each version folder.

    python tools/export.py runs/lstm-20250101-120000                    # -> runs/.../export/1
    python tools/export.py runs/mlp-X/best.keras --output serving/mlp   # a .keras file inside a run
    python tools/export.py runs/mlp-X --output serving/mlp --quantize int8
    python tools/export.py runs/lstm-20250101-120000 --preset presets/lstm-imdb   # a shareable preset instead
    python tools/export.py runs/lstm-X --format litert,onnx        # -> runs/lstm-X/export/litert/1, .../onnx/1
    python tools/export.py runs/cnn-X --format savedmodel --format litert --quantize int8
    python tools/export.py runs/transformer_seq2seq-X --set export.beam_size=4   # beam search in the signature

Each call writes the next version (`OUTPUT/1`, `OUTPUT/2`, ...), TF Serving's layout. `--preset DIR`
writes a kzoo preset (weights, config, preprocessing, metadata, model card; loadable with
`kzoo.load(DIR)`, publishable with `kzoo-publish`) instead, or besides it with `--saved-model`.

`--format litert|onnx` (repeatable or a comma list; default savedmodel) converts the entry's
tensor-only signature (token ids / indices / pixels in, the same outputs) into
`OUTPUT/litert/<version>/model.tflite` or `OUTPUT/onnx/<version>/model.onnx`, with its preprocessing
as plain files and `kzoo.json`, after checking it against the Keras model (see kzoo.runtimes).
`--quantize int8` quantizes the SavedModel's layers (`model.quantize`) and LiteRT's weights (the
converter's dynamic range); ONNX exports are float. The converters: pip install -e ".[runtimes]".
`--set export.KEY=VALUE` chooses a serving option for this export (`kzoo-train --describe ENTRY` lists them).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from kzoo.cli.checks import tool_parser
from kzoo.runtimes.formats import RUNTIMES, install_message, parse_formats
from kzoo.schema import QUANTIZE_MODES
from kzoo.cli.common import add_verbose_argument, framework_start, run_tool


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), export the run in each format, print each version folder; return 0."""
    parser = tool_parser(__doc__)
    parser.add_argument("run", help="run directory, or a .keras file inside one")
    parser.add_argument("--output", default=None, help="versioned export folder (default RUN/export)")
    parser.add_argument("--quantize", default=None, help="int8: quantize the layers that support it (on a copy)")
    parser.add_argument("--format", action="append", default=None, metavar="FORMAT",
                        help="savedmodel (default), litert, onnx: repeatable or a comma list")
    parser.add_argument("--preset", default=None, metavar="DIR",
                        help="write a preset (a new directory) instead of the SavedModel (see kzoo.presets)")
    parser.add_argument("--saved-model", action="store_true", help="with --preset: write the SavedModel too")
    parser.add_argument("--set", action="append", default=[], metavar="export.KEY=VALUE", dest="overrides",
                        help="a serving option of this export, repeatable (e.g. export.beam_size=4 for a translator)")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.expanduser(args.run)):
        parser.error(f"{args.run!r} does not exist: pass a finished run directory or a .keras file inside one")
    if args.quantize is not None and args.quantize not in QUANTIZE_MODES:
        parser.error(f"unknown quantize mode {args.quantize!r}; valid: {', '.join(QUANTIZE_MODES)}")
    try:
        formats = parse_formats(args.format)
    except ValueError as err:
        parser.error(f"--format: {err}")
    for name in (f for f in formats if f in RUNTIMES):
        if args.quantize and args.quantize not in RUNTIMES[name].quantize_modes:
            parser.error(f"--quantize {args.quantize} is not available for {name} exports (they are float): "
                         f"export {name} in a call without --quantize")
        if install_message(name):
            parser.error(install_message(name))
    bad = [o for o in args.overrides if not o.startswith("export.") or "=" not in o]
    if bad:
        parser.error(f"--set {bad[0]!r}: an export sets export.KEY=VALUE options only (the trained model is fixed)")
    if args.preset is None and args.saved_model:
        parser.error("--saved-model goes with --preset (without --preset the SavedModel is what is written)")
    if args.preset is not None and not args.saved_model and (args.output or args.quantize or args.format):
        parser.error("--output, --quantize and --format are export options: add --saved-model to write one too")
    with framework_start(args.verbose):  # imported after parsing: TensorFlow takes seconds to load (start-up latency)
        from kzoo.export import export_run
        from kzoo.presets import write_preset
        from kzoo.runtimes import export_runtime

    if args.preset is not None:
        print(write_preset(args.run, args.preset))
        if not args.saved_model:
            return 0
    for name in formats:
        if name in RUNTIMES:
            print(export_runtime(args.run, name, output=args.output, quantize=args.quantize,
                                 overrides=args.overrides), flush=True)
            continue
        version = export_run(args.run, output=args.output, quantize=args.quantize, overrides=args.overrides)
        if args.quantize:  # TF Serving and most servers load the newest version of a model folder
            print(f"kzoo: the {args.quantize} export is now the newest version in {version.parent}: servers that "
                  "load the newest version will serve it", file=sys.stderr)
        print(version, flush=True)
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console script `kzoo-export`: `main(argv)`, exiting 2 with one line on bad input."""
    run_tool(main, argv)


if __name__ == "__main__":
    run()
