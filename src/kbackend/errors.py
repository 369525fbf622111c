"""The one user-facing error type, mapped to exit codes at the top (cli.main).

Exit codes (DESIGN.md): 0 all clear, 1 the command ran and found a problem,
2 usage error, 3 internal error, 74 standard output closed or unwritable
(sysexits' EX_IOERR; a reader closing a pipe early is not an error), 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
#: standard output is closed (`>&-`) or cannot be written (a full disk): sysexits.h's EX_IOERR.
EXIT_OUTPUT = 74
EXIT_INTERRUPTED = 130


class KbackendError(Exception):
    """A problem the user can act on: printed without a traceback.

    >>> e = KbackendError("Invalid `floatx`.", fix="kbackend set floatx float32")
    >>> e.exit_code
    1
    """

    exit_code = EXIT_PROBLEM

    def __init__(self, message: str, *, fix: str | None = None, data: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.data = data or {}


class UsageError(KbackendError):
    """Bad input to a command that click itself cannot detect (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigWriteError(KbackendError):
    """keras.json could not be written; the old file is intact."""
