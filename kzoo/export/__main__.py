"""`python -m kzoo.export RUN [--output DIR] [--quantize int8] [--runtime litert|onnx] [--set export.K=V]`: export.

`export_run` (and `kzoo.runtimes.export_runtime` with `--runtime`) call this in a TensorFlow-backend
child process when the caller runs another Keras backend: a SavedModel is a TensorFlow graph, the
converters read TensorFlow graphs, and the `.keras` file is the same on every backend.
"""

import argparse

from kzoo.export.core import export_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run")
    parser.add_argument("--output", default=None)
    parser.add_argument("--quantize", default=None)
    parser.add_argument("--runtime", default=None)
    parser.add_argument("--tolerance", type=float, default=None)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    if args.runtime is None:
        print(export_run(args.run, output=args.output, quantize=args.quantize, overrides=args.overrides))
        return
    from kzoo.runtimes.export import export_runtime

    print(export_runtime(args.run, args.runtime, output=args.output, quantize=args.quantize,
                         tolerance=args.tolerance, overrides=args.overrides))


if __name__ == "__main__":
    main()
