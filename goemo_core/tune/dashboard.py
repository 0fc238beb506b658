"""optuna-dashboard on the configured storage, bound to 127.0.0.1 only (the dashboard can edit and delete studies,
so it is never exposed beyond this machine; reach it from elsewhere through an SSH tunnel).
`ensure_dashboard` starts it once per process in a daemon thread, on a port of its own for each storage (the same
one after a restart while it is free, so a bookmarked dashboard link keeps working); `serve_dashboard` runs it in the
foreground (the CLI)."""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..errors import InvalidConfig
from . import open_storage, storage_url

HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # optuna-dashboard's own default
STABLE_PORTS = range(18080, 18980)  # where the app's dashboards go: a storage always hashes to the same one


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow browser request never keeps the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # the dashboard polls: one line per request is noise
        return None


@dataclass
class DashboardServer:
    server: WSGIServer
    thread: threading.Thread | None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_port}"

    def stop(self) -> None:
        if self.thread is not None:
            self.server.shutdown()
        self.server.server_close()


def make_dashboard_server(storage: str | None = None, port: int = 0) -> DashboardServer:
    """Bind the dashboard's WSGI app to 127.0.0.1:port (0: a free port). Not serving yet."""
    from optuna_dashboard import wsgi

    app = wsgi(open_storage(storage))
    try:
        server = make_server(HOST, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise InvalidConfig(f"port: cannot listen on {HOST}:{port} ({exc.strerror or exc}); "
                            "choose another --port (0: any free port).") from None
    return DashboardServer(server, None)


_RUNNING: dict[str, DashboardServer] = {}
_LOCK = threading.Lock()


def stable_port(storage: str) -> int:
    """The port a storage's dashboard asks for first: the same for the same storage URL, across restarts."""
    return STABLE_PORTS[zlib.crc32(storage.encode()) % len(STABLE_PORTS)]


def ensure_dashboard(storage: str | None = None) -> str:
    """The base URL of this process's dashboard on `storage` (default GOEMO_OPTUNA_STORAGE), started on first use on
    the storage's stable port, or on any free port while another program holds that one."""
    key = storage_url(storage)
    with _LOCK:
        running = _RUNNING.get(key)
        if running is None or running.thread is None or not running.thread.is_alive():
            try:
                running = make_dashboard_server(key, stable_port(key))
            except InvalidConfig:  # taken (another server of this app, say): any free port will do
                running = make_dashboard_server(key)
            running.thread = threading.Thread(target=running.server.serve_forever, name="optuna-dashboard",
                                              daemon=True)
            running.thread.start()  # the socket already listens: the URL works as soon as we return it
            _RUNNING[key] = running
        return running.url


def stop_dashboards() -> None:
    """Stop every dashboard this process started (tests, shutdown)."""
    with _LOCK:
        for running in _RUNNING.values():
            running.stop()
        _RUNNING.clear()


def study_url(base_url: str, study_id: int) -> str:
    """optuna-dashboard's page of one study."""
    return f"{base_url.rstrip('/')}/dashboard/studies/{study_id}"


def serve_dashboard(storage: str | None = None, port: int = DEFAULT_PORT,
                    on_ready: Callable[[str], None] = lambda url: None) -> None:
    """Serve in the foreground until interrupted (Ctrl+C); `on_ready` gets the URL once the socket listens."""
    running = make_dashboard_server(storage, port)
    on_ready(running.url)
    try:
        running.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        running.server.server_close()
