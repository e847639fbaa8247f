"""The one error type of the ``smsemu`` command: a mistake of the user's (a
bad option, a file that will not do, a port in use), told in one line.

It imports nothing, so the command can catch it without loading the
components that raise it."""

from __future__ import annotations


class CommandError(Exception):
    """``what: why``, one line, for ``error: ...`` on stderr.

    ``status`` is the exit status: 2 for a bad option (as argparse's own
    errors), 1 for everything else."""

    status: int = 1

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
