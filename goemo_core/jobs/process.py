"""The process a job's work runs in: spawned by the JobManager, it runs the handler and sends each message back
over a pipe as it comes, ending with one final message (done, cancelled or error); it stops when the server that
started it is gone. Also what the manager says when such a process dies without that final message."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable

from ..errors import Cancelled, GoEmoError, Terminated
from .context import JobContext, sigterm_handler

Handler = Callable[[Any, JobContext], dict]
PARENT_GONE_GRACE_S = 60.0  # a worker whose server died stops its work and exits this long after


def _exit_with_parent(parent: int, cancel) -> None:
    """If the server dies without stopping us, stop the work (keeping what is finished), then exit."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        cancel.set()
        time.sleep(PARENT_GONE_GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="goemo-parent-watch", daemon=True).start()


def worker_main(handler: Handler, config: Any, connection, cancel, parent: int) -> None:
    """Runs in the spawned process: the handler, then one final message (done, cancelled or error). Messages are
    written to the pipe as they come (no buffering thread), so a crash loses none that was sent."""
    _exit_with_parent(parent, cancel)
    signal.signal(signal.SIGTERM, sigterm_handler(cancel))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in the server's terminal is the server's to handle
    lock = threading.Lock()

    def send(message: tuple) -> None:
        with lock:
            try:
                connection.send(message)
            except OSError:  # the server is gone: stop after this batch, keeping what is finished
                cancel.set()

    context = JobContext(send, cancel)
    try:
        result = handler(config, context) or {}
        send(("done", result))
    except (Cancelled, Terminated):
        send(("cancelled",))
    except GoEmoError as exc:  # a message meant for the user: no traceback on the card
        send(("error", str(exc), None))
    except BaseException as exc:  # anything else: the card shows the traceback too
        send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        connection.close()


def exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if name == "SIGKILL" else ""
        return f"the worker process was stopped by {name}{hint}"
    return f"the worker process exited with status {code} before finishing"


_WORKER_MAIN = types.ModuleType("__main__")  # no file, no spec: a spawned child runs no main script
_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def plain_main():
    """A spawned child first re-runs the parent's __main__ script. In the app that is the page that last ran
    (Streamlit executes pages as __main__), which must not run again outside Streamlit in every worker: while a
    worker starts, __main__ is an empty module. Put back unless a page run replaced it meanwhile."""
    with _MAIN_LOCK:
        saved = sys.modules.get("__main__")
        sys.modules["__main__"] = _WORKER_MAIN
        try:
            yield
        finally:
            if sys.modules.get("__main__") is _WORKER_MAIN and saved is not None:
                sys.modules["__main__"] = saved
