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

    def __reduce__(self):
        # Rebuilt from both fields, so the error survives the trip back from a worker process (--workers).
        return type(self), (self.path, self.what)


class UnsupportedFormat(CaptureError):
    """A file in a container format netreset does not read itself, but Wireshark's tshark may.

    ``kind`` names the format in a few words ("a Solaris snoop capture"), or is "" when the bytes are
    not recognised at all. The pipeline catches this error to read the file through tshark instead.
    """

    def __init__(self, path: str, what: str, kind: str = ""):
        super().__init__(path, what)
        self.kind = kind

    def __reduce__(self):
        return type(self), (self.path, self.what, self.kind)


class UsageError(NetresetError):
    """Options that do not fit together or a malformed filter expression."""
