#!/usr/bin/env python
"""Query a kzoo SavedModel export (see --help); installed as `kzoo-predict`.

`kzoo/cli/predict.py` needs TensorFlow only: copy that file to a serving machine to run it without kzoo."""

from kzoo.cli.predict import run

if __name__ == "__main__":
    run()
