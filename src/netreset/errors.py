"""Errors a person can act on.

Library code raises these; the CLI turns them into one line ``Error: <file>: <what>`` and exit code 1.
"""


class NetresetError(Exception):
    """Base class of every error netreset reports to the user without a traceback."""


class CaptureError(NetresetError):
    """A capture file cannot be read at all (missing, a directory, wrong format, empty)."""

    def __init__(self, path: str, what: str):
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


class UsageError(NetresetError):
    """Options that do not fit together or a malformed filter expression."""
