"""kzoo's error types that are not tied to one module, kept low so any layer can raise them.

`ConfigError` (a bad config, key or value), `UnsafeFileError` (a file Keras's safe mode refuses) and
`ModelFileError` (a `.keras` file that cannot be loaded) mean bad input: the tools print one line and exit 2. `TrainingDiverged` means the run itself
failed (non-finite loss or weights): the tools print one line and exit 1, and nothing is exported.
`TrainingInterrupted` (Ctrl-C) exits 130 with the command that resumes the run.
"""


class ConfigError(ValueError):
    """A config file, override key or value is invalid; the message names it."""


class UnsafeFileError(ValueError):
    """A `.keras` file holds code (a `Lambda` layer) that Keras's safe mode refuses to load."""


class ModelFileError(ValueError):
    """A `.keras` file cannot be loaded (damaged, or naming objects that are neither Keras's nor kzoo's)."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or non-finite weights; the run is not finished or exported."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says how far it got and the command that continues it."""
