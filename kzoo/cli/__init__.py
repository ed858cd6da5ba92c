"""kzoo's command-line tools, one module per tool, each with `main(argv=None) -> int`.

They are installed as console scripts (`kzoo-train`, `kzoo-distill`, `kzoo-evaluate`,
`kzoo-export`, `kzoo-predict`, `kzoo-benchmark`, `kzoo-data-benchmark`, `kzoo-launch-local`);
`tools/<tool>.py` and `python -m kzoo.cli.<tool>` run the same code. `common` holds the shared
flags and the error handling (bad input: one `error: ...` line, exit status 2); `quiet` hides
TensorFlow's start-up lines unless `--verbose`. Each tool parses its arguments before it imports
TensorFlow, so `--help` and bad flags answer at once.
"""
