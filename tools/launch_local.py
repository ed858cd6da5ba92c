#!/usr/bin/env python
"""Run a kzoo tool as N local workers (see --help); installed as `kzoo-launch-local`."""

from kzoo.cli.launch_local import run

if __name__ == "__main__":
    run()
