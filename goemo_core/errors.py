"""Errors the app and the CLI turn into a clear message instead of a traceback."""


class GoEmoError(Exception):
    """Base class: the message is meant for the user as it is."""

    exit_code = 1


class InvalidConfig(GoEmoError, ValueError):
    """A parameter was refused before any work started (CLI exit status 2)."""

    exit_code = 2


class MissingResource(GoEmoError):
    """Data, a model, a corpus or a folder is missing; the message says what to set (CLI exit status 3)."""

    exit_code = 3


class Cancelled(GoEmoError):
    """A job was cancelled by the user; raised between batches."""


class Diverged(GoEmoError):
    """The training loss became non-finite: training stops, the run keeps the last good weights."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `docker stop`, systemd and `timeout` send), raised where Ctrl-C would raise KeyboardInterrupt
    and handled the same way: the run keeps its best weights and is cancelled; the CLI exits with 143."""


def raise_terminated(signum: int, frame: object) -> None:
    """The CLI's SIGTERM handler."""
    raise Terminated()
