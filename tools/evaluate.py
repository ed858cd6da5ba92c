#!/usr/bin/env python
"""Print a finished run's metrics as one JSON object (see --help); installed as `kzoo-evaluate`."""

from kzoo.cli.evaluate import run

if __name__ == "__main__":
    run()
