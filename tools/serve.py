#!/usr/bin/env python
"""Serve kzoo exports over TF Serving's REST API (see --help); installed as `kzoo-serve`."""

from kzoo.cli.serve import run

if __name__ == "__main__":
    run()
