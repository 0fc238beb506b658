"""Where studies live: any SQLAlchemy URL (SQLite by default, PostgreSQL for workers on several machines) or an
Optuna journal file, opened once per process and URL.

SQLite is safe for a few workers on one machine: Optuna numbers a new trial inside the INSERT transaction and SQLite's
database-wide write lock serialises those, so no trial is lost or numbered twice; the busy timeout is raised so a
worker waits for the lock instead of failing with "database is locked". SQLite is not safe on network file systems
(broken fcntl locks): for workers on several machines use PostgreSQL, or `journal:///path/file.log` (Optuna's
JournalFileBackend, an append-only log with NFS-safe lock files). RDB storages keep a heartbeat, so a trial whose
worker died is failed once its heartbeat expires (by the next worker that starts a trial or finishes its run); a
study that asks for it (RETRY_ATTR, e.g. a benchmark grid) then gets the trial back as a waiting one.
Passwords in URLs and in driver errors are masked before anything is shown."""

from __future__ import annotations

import os
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidConfig, MissingResource
from ..settings import get_settings, mask_text, mask_url, parse_url

if TYPE_CHECKING:
    import optuna

SQLITE_BUSY_TIMEOUT_S = 60
# a running RDB trial records a heartbeat every HEARTBEAT_S; one silent for GRACE_S (its worker died) is failed
HEARTBEAT_S, GRACE_S = 60, 300
HEARTBEAT_ENV, GRACE_ENV = "GOEMO_OPTUNA_HEARTBEAT_S", "GOEMO_OPTUNA_GRACE_S"
JOURNAL_SCHEME = "journal:"
RETRY_ATTR = "goemo_retry_stale"  # a study's user attribute: how often a trial failed by heartbeat is queued again


def storage_url(url: str | None = None) -> str:
    return url or get_settings().optuna_storage


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds: HEARTBEAT_S and GRACE_S unless GOEMO_OPTUNA_HEARTBEAT_S or
    GOEMO_OPTUNA_GRACE_S say otherwise (a short grace fails a dead worker's trial sooner; it must exceed the
    interval, or live trials would be failed between two heartbeats)."""
    values = []
    for name, default in ((HEARTBEAT_ENV, HEARTBEAT_S), (GRACE_ENV, GRACE_S)):
        text = (os.environ.get(name) or "").strip()
        try:
            value = int(text) if text else default
        except ValueError:
            raise InvalidConfig(f"{name}: '{text}' is not a whole number of seconds.") from None
        if value < 1:
            raise InvalidConfig(f"{name}: {value} must be at least 1 second.")
        values.append(value)
    heartbeat, grace = values
    if grace <= heartbeat:
        raise InvalidConfig(f"{GRACE_ENV}: the grace period ({grace} s) must be longer than the heartbeat interval "
                            f"({heartbeat} s).")
    return heartbeat, grace


_STORAGES: dict[str, Any] = {}
_STORAGES_LOCK = threading.Lock()


def open_storage(url: str | None = None) -> "optuna.storages.BaseStorage":
    """The storage behind a URL, one object per URL and process (engines and journal readers are reused).
    Any SQLAlchemy URL, or `journal:///path/to/file.log` for a JournalFileBackend."""
    url = storage_url(url)
    with _STORAGES_LOCK:
        if url not in _STORAGES:
            _STORAGES[url] = _create_storage(url)
        return _STORAGES[url]


def _create_storage(url: str) -> "optuna.storages.BaseStorage":
    heartbeat = None
    if not url.startswith(JOURNAL_SCHEME):
        if parse_url(url) is None:  # SQLAlchemy would fail or split a raw @ of the password into the host
            raise InvalidConfig(f"storage: {mask_url(url)} is not a database URL SQLAlchemy can read "
                                "(dialect+driver://user:password@host:port/db); percent-encode @ : / ? # in a "
                                "password (%40 %3A %2F %3F %23).")
        heartbeat = heartbeat_settings()
    try:
        if url.startswith(JOURNAL_SCHEME):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = journal_path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        engine_kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            _ensure_sqlite_folder(url)
            engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        else:  # a long-lived worker survives a server restart or an idle connection dropped by a proxy
            engine_kwargs = {"pool_pre_ping": True}
        return _rdb_storage(engine_url(url), engine_kwargs, heartbeat)
    except Exception as exc:
        detail = " ".join(_scrub(f"{type(exc).__name__}: {exc}", url).split())[:300]  # one line
        if isinstance(exc, ModuleNotFoundError):
            detail += "; install the database driver (PostgreSQL: pip install -r requirements.txt, psycopg 3)"
        raise MissingResource(f"Cannot open the Optuna storage {mask_url(url)} ({detail}). Set GOEMO_OPTUNA_STORAGE "
                              "(or --storage) to a reachable SQLAlchemy URL (sqlite:///…, postgresql+psycopg://"
                              "user:password@host:5432/db) or journal:///path/to/file.log.") from None


def engine_url(url: str) -> str:
    """A bare postgresql:// URL means psycopg 3, the driver in requirements.txt (SQLAlchemy's default for it is
    psycopg2); any URL naming its driver is kept."""
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


def _rdb_storage(url: str, engine_kwargs: dict, heartbeat: tuple[int, int],
                 attempts: int = 5) -> "optuna.storages.RDBStorage":
    """RDBStorage, retried when workers starting together race to create the tables of a new database ('table …
    already exists', a duplicate schema-version row: the winner's tables are complete on the next try)."""
    import optuna

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeat is flagged experimental
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat[0],
                                                  grace_period=heartbeat[1],
                                                  heartbeat_stale_trial_callback=retry_stale_trial)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            racing = any(sign in text for sign in ("already exists", "database is locked", "IntegrityError"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def journal_path(url: str) -> Path:
    """journal:///abs/file.log → /abs/file.log; journal://rel.log → rel.log (like sqlite:///)."""
    rest = url[len(JOURNAL_SCHEME):]
    rest = rest[2:] if rest.startswith("//") else rest
    if not rest:
        raise InvalidConfig(f"storage: '{url}' names no journal file (journal:///path/to/file.log).")
    return Path(rest).expanduser()


def _ensure_sqlite_folder(url: str) -> None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)


def _scrub(text: str, url: str) -> str:
    """Error texts from drivers may quote the URL, its password or a connection string: never show a secret."""
    return mask_text(text, url)


def retry_stale_trial(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> None:
    """Called for each trial failed by heartbeat: a study whose RETRY_ATTR is N queues the trial again (same params
    and attributes) until it has been retried N times (Optuna's RetryHeartbeatStaleTrialCallback); other studies
    keep the failed trial as it is (a tune study samples a new trial instead)."""
    import optuna

    retries = study.user_attrs.get(RETRY_ATTR)
    if isinstance(retries, int) and not isinstance(retries, bool) and retries > 0:
        with warnings.catch_warnings():  # flagged experimental
            warnings.simplefilter("ignore")
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries)(study, trial)


def uses_heartbeats(url: str | None = None) -> bool:
    """Whether the storage fails a dead worker's trial (SQLite and PostgreSQL do; a journal file keeps no
    heartbeat)."""
    return not storage_url(url).startswith(JOURNAL_SCHEME)


def fail_stale_trials(study: "optuna.Study") -> None:
    """Fail the running trials whose heartbeat has expired (their worker died); Optuna does this before each new
    trial, a worker also does it when its run ends so its summary counts no dead trial as running."""
    import optuna

    with warnings.catch_warnings():  # flagged experimental
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)


def close_storages() -> None:
    """Forget the cached storages (tests; a changed database file)."""
    with _STORAGES_LOCK:
        for storage in _STORAGES.values():
            engine = getattr(storage, "engine", None)
            if engine is not None:
                engine.dispose()
        _STORAGES.clear()
