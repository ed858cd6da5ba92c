"""The error type of bad configs, in a module of its own so the low-level schema can raise it."""


class ConfigError(ValueError):
    """A config file, override key or value is invalid; the message names it."""
