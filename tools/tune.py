#!/usr/bin/env python
"""Search a zoo entry's hyperparameters (see --help); installed as `kzoo-tune`."""

from kzoo.cli.tune import run

if __name__ == "__main__":
    run()
