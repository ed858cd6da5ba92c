"""`python -m kzoo.export RUN [--output DIR] [--quantize int8]`: export a run; print the version folder.

`export_run` calls this in a TensorFlow-backend child process when the caller runs another Keras
backend: a SavedModel is a TensorFlow graph, and the `.keras` file is the same on every backend.
"""

import argparse

from kzoo.export.core import export_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run")
    parser.add_argument("--output", default=None)
    parser.add_argument("--quantize", default=None)
    args = parser.parse_args()
    print(export_run(args.run, output=args.output, quantize=args.quantize))


if __name__ == "__main__":
    main()
