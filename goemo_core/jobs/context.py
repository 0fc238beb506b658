"""What a piece of background work may do while it runs: report progress, epoch records, log lines and its run id,
and look at the cancel flag. The JobManager hands one to each handler; in a worker process it forwards every report
to the server as a message, and SIGTERM reaches the work through the cancel flag (`sigterm_handler`)."""

from __future__ import annotations

import signal
import time
from typing import Any, Callable, Protocol

from ..errors import Cancelled, Terminated, raise_terminated

PROGRESS_INTERVAL_S = 0.5  # at most two progress messages a second: the page polls, it does not need more


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...

    def set(self) -> None: ...


class JobContext:
    """`send(message)` delivers one report: ("progress", fraction, text), ("history", record), ("log", line) or
    ("run", run_id). `cancel` is a threading or multiprocessing Event."""

    def __init__(self, send: Callable[[tuple], Any], cancel: CancelFlag):
        self._send, self.cancel = send, cancel
        self._last_progress = 0.0

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("cancelled by the user")

    def progress(self, fraction: float, text: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if force or fraction >= 1.0 or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self._send(("progress", float(min(1.0, max(0.0, fraction))), text))

    def add_history(self, record: dict) -> None:
        self._send(("history", dict(record)))

    def log(self, message: str) -> None:
        self._send(("log", f"{time.strftime('%H:%M:%S')} {message}"))

    def set_run(self, run_id: str) -> None:
        self._send(("run", run_id))


def sigterm_handler(cancel: CancelFlag) -> Callable[[int, object], None]:
    """A worker's SIGTERM handler. A first SIGTERM before any cancel (a stopping server) sets the cancel flag: the
    work stops after its batch. One after the cancel (the manager's, past the grace period: the work never looked at
    the flag) raises Terminated where the work is, as Ctrl-C would, keeping what is finished."""
    def handle(signum: int, frame: object) -> None:
        first = not cancel.is_set()
        signal.signal(signal.SIGTERM, raise_terminated)
        cancel.set()
        if not first:
            raise Terminated()

    handle.raises_terminated = True  # a run writing its results holds it back (training.run._interrupts_deferred)
    return handle
