"""kzoo's command-line tools, one module per tool, each with `main(argv=None) -> int`.

They are installed as console scripts (`kzoo-train`, `kzoo-distill`, `kzoo-evaluate`,
`kzoo-export`, `kzoo-predict`, `kzoo-benchmark`, `kzoo-data-benchmark`, `kzoo-launch-local`);
`tools/<tool>.py` and `python -m kzoo.cli.<tool>` run the same code. `common` holds the shared
flags and the error handling (bad input: one `error: ...` line, exit status 2).
"""

import os

# Every tool imports TensorFlow; this package is imported first, so its C++ start-up logs stay
# quiet unless the user chose a level.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
