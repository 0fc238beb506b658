"""Throwaway servers for the tests that need real ones: PostgreSQL (initdb into a temporary folder, password
authentication, 127.0.0.1 on a free port, run as the `postgres` user when the tests run as root) and an
`mlflow server` serving its artifacts on loopback (SQLite backend and artifacts in a temporary folder). Each is
stopped and removed when its block ends."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from conftest import unavailable

MLFLOW_START_S = 240  # `mlflow server` imports a lot; on a loaded 2-core machine it takes its time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder with initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                     if Path(p).parent.name.isdigit() else 0)
    return Path(folders[-1]) if folders and (Path(folders[-1]) / "initdb").exists() else None


@contextlib.contextmanager
def running_postgres(user: str, password: str, database: str) -> Iterator[tuple[int, Path]]:
    """A PostgreSQL server with a password-authenticated superuser (scram-sha-256) and an empty `database`: yields
    (port, its folder)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no 'postgres' user to run the PostgreSQL server as")
        as_user = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
        if as_user is None:
            unavailable("running as root without runuser to start PostgreSQL as the 'postgres' user")
    folder = Path(tempfile.mkdtemp(prefix="goemo-pg-"))  # not under pytest's root-only tmp folders
    data, log, pwfile = folder / "data", folder / "server.log", folder / "pwfile"
    pwfile.write_text(password + "\n")
    if owner is not None:
        for path in (folder, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    pwfile.chmod(0o600)

    def run(*command: str) -> None:
        result = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}"

    port = free_port()
    started = False
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", user, f"--pwfile={pwfile}", "--auth=scram-sha-256",
            "--encoding=UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c full_page_writes=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
        started = True
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {database}")
        yield port, folder
    finally:
        if started:
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def running_mlflow(folder: Path) -> Iterator[str]:
    """`mlflow server --serve-artifacts` on a free loopback port, its SQLite backend and artifacts under `folder`:
    yields its URL."""
    with mlflow_process(folder) as (url, _):
        yield url


@contextlib.contextmanager
def mlflow_process(folder: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """As running_mlflow, yielding the URL and the server's process (a test may stop it mid-run)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--serve-artifacts",
         "--artifacts-destination", str(folder / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + MLFLOW_START_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
