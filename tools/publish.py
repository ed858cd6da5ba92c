#!/usr/bin/env python
"""Publish a kzoo preset to the Hugging Face Hub or Kaggle (see --help); installed as `kzoo-publish`."""

from kzoo.cli.publish import run

if __name__ == "__main__":
    run()
