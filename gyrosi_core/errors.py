"""Errors a user can cause. Each carries one sentence that says what went wrong and what to do."""


class GyrosiError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with `exit_code`."""

    exit_code = 1


class ConfigError(GyrosiError):
    """A config file is unreadable or a key/value in it is invalid."""


class PluginError(GyrosiError):
    """Plugins conflict (e.g. two register the same backend name) or are unusable."""


class UnknownBackendError(GyrosiError):
    """The requested backend is not installed."""

    exit_code = 2


class VocabularyError(GyrosiError):
    """The o200k vocabulary is missing or corrupt."""


class ContextLengthError(GyrosiError):
    """The prompt does not fit the backend's context window."""
