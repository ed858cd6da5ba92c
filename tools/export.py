#!/usr/bin/env python
"""Export a finished run as a SavedModel for serving (see --help); installed as `kzoo-export`."""

from kzoo.cli.export import run

if __name__ == "__main__":
    run()
