"""kzoo's error types, all in one place and kept low so any layer (and `kzoo-predict` alone) can raise them.

Every error kzoo raises on purpose derives from `KzooError`, so the tools catch that one class
(`kzoo.cli.common.run_tool`). Each also keeps the built-in type it has always had (`ValueError`,
`KeyError`, `FileNotFoundError`, ...), so code that caught those still does.

Bad input (a config, key, value, file, run directory, dataset or export the user named): the tools
print the one-line message and exit 2. Two are not bad input and are caught first: `TrainingDiverged`
(non-finite loss or weights: nothing is exported) exits 1, and `TrainingInterrupted` (Ctrl-C, still a
`KeyboardInterrupt`) exits 130 with the command that resumes the run.

This module imports nothing (no TensorFlow, no Keras): `--help` and a bad flag answer before they load.
"""


class KzooError(Exception):
    """An error a user meets for bad input: its message is one line the tools print (exit 2) without a traceback."""


# ---------------------------------------------------------------------------------------------- config
class ConfigError(KzooError, ValueError):
    """A config file, override key or value is invalid; the message names it."""


class PresetError(ConfigError):
    """A preset cannot be written, read, fetched or published as asked (one line; exit 2 in the tools)."""


class UnknownModelError(KzooError, KeyError):
    """The requested entry is not registered; the message suggests the closest names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class UnknownTaskError(KzooError, ValueError):
    """No task of that name is registered; the message lists the registered ones."""


class StrategyError(KzooError, RuntimeError):
    """The requested strategy cannot be created here; the message says why and what to use."""


# ------------------------------------------------------------------------------------------------ data
class DataUnavailableError(KzooError, FileNotFoundError):
    """A dataset is neither prepared locally nor downloadable; the message lists the ways out."""

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return self.args[0]


class DataError(KzooError, ValueError):
    """Bad data or a bad data request (shape, label, split, malformed line); the message names it."""


# ------------------------------------------------------------------------------------- runs and files
class RunDirError(KzooError, ValueError):
    """The run directory cannot be used as asked (exists, missing, unfinished, or is a file)."""


class UnsafeFileError(KzooError, ValueError):
    """A `.keras` file holds code (a `Lambda` layer) that Keras's safe mode refuses to load."""


class ModelFileError(KzooError, ValueError):
    """A `.keras` file cannot be loaded (damaged, or naming objects that are neither Keras's nor kzoo's)."""


# ----------------------------------------------------------------------------------- export and serving
class ExportError(KzooError, ValueError):
    """The run, model or export request cannot be exported; the message says what is wrong."""


class ConversionError(KzooError):
    """A converter or its runtime refused the model; the message is one line, naming the op when known."""


class UsageError(KzooError):
    """Bad arguments or export folder for `kzoo-predict`; printed as `error: ...` with exit status 2."""


# ----------------------------------------------------------------------------------------------- a run
class TrainingDiverged(KzooError, RuntimeError):
    """Training produced a non-finite loss or non-finite weights; the run is not finished or exported."""


class TrainingInterrupted(KzooError, KeyboardInterrupt):
    """Ctrl-C during a run; the message says how far it got and the command that continues it.

    Still a `KeyboardInterrupt` (`except KeyboardInterrupt` catches it first, as before); being a
    `KzooError` also makes it an `Exception`, so the tools handle it before their `KzooError` case.
    """


# ------------------------------------------------------------------------------------------- serving
class RequestError(KzooError, ValueError):
    """A request `kzoo-serve` refuses: `status` (a 4xx or 503) and one message naming the field and what is valid."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
