#!/usr/bin/env python
"""Distil a finished teacher run into a smaller zoo entry (see --help); installed as `kzoo-distill`."""

from kzoo.cli.distill import run

if __name__ == "__main__":
    run()
