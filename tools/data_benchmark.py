#!/usr/bin/env python
"""Input-pipeline throughput of an entry's training data (see --help); installed as `kzoo-data-benchmark`."""

from kzoo.cli.data_benchmark import run

if __name__ == "__main__":
    run()
