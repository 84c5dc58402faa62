"""Errors the CLI turns into one-line messages with exit code 2.

Anything raised as a `BenchError` is the user's to fix (a name, a path, a value);
everything else is a bug and keeps its traceback.
"""


class BenchError(Exception):
    """A user-facing error: its message names the culprit and is printed on one line."""


class UnknownName(BenchError):
    """A codec, dataset or task name that no plugin registers."""


class PluginUnavailable(BenchError):
    """A registered plugin whose import or backend failed; the message says why."""


class UnsupportedInput(BenchError, ValueError):
    """A codec asked for a bit depth, channel count or quality it does not declare."""


class DatasetError(BenchError):
    """Unreadable, inconsistent or missing data; the message names the file."""


class OutputError(BenchError, OSError):
    """The results folder cannot be written (read-only, full disk, ...); nothing was left half-written."""


class DataWarning(UserWarning):
    """Data that loads but may give misleading numbers (inferred bit depth, a split lacking a class);
    the CLI prints it as one `warning:` line."""
