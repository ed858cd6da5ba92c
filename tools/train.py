#!/usr/bin/env python
"""Train a zoo entry end to end (see --help); installed as `kzoo-train`."""

from kzoo.cli.train import run

if __name__ == "__main__":
    run()
