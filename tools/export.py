#!/usr/bin/env python
"""Export a finished run as a TensorFlow SavedModel for serving; print the version folder.

    python tools/export.py runs/lstm-20250101-120000                    # -> runs/.../export/1
    python tools/export.py runs/mlp-X/best.keras --output serving/mlp   # a .keras file inside a run
    python tools/export.py runs/mlp-X --output serving/mlp --quantize int8

Each call writes the next version (`OUTPUT/1`, `OUTPUT/2`, ...), TF Serving's layout.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kzoo.training.cli import run_tool  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory, or a .keras file inside one")
    parser.add_argument("--output", default=None, help="versioned export folder (default RUN/export)")
    parser.add_argument("--quantize", default=None, help="int8: quantize the layers that support it (on a copy)")
    args = parser.parse_args()

    from kzoo.export import export_run

    print(export_run(args.run, output=args.output, quantize=args.quantize))
    return 0


if __name__ == "__main__":
    run_tool(main)
