#!/usr/bin/env python
"""Benchmark zoo entries: accuracy, step speed, serving, vs. baseline (see --help); installed as `kzoo-benchmark`."""

from kzoo.cli.benchmark import run

if __name__ == "__main__":
    run()
