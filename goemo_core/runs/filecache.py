"""Run files read once while they are unchanged: every page lists every run folder on each rerun, and with hundreds of
runs reading and validating each file again costs seconds. A file is read again as soon as its size, modification
time or inode changes (every write is an atomic rename: a new inode). What a reader gets is its own copy, so changing
it changes nothing for the next reader."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

MAX_ENTRIES = 50_000  # files remembered (a few KiB each): far more than 300 runs × 7 files; cleared when full
_ENTRIES: dict[str, tuple[Any, Any]] = {}  # key: a path, or several (derived_cached)
_LOCK = threading.Lock()


class _Failed:
    """A read that raised: the same error is raised again while the file is unchanged."""

    def __init__(self, error: Exception):
        self.error = error


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino


def _frozen(value: Any) -> Any:
    """What is kept: immutable values as they are, JSON documents as text (each reader parses its own copy)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return ("json", json.dumps(value))


def _thawed(kept: Any) -> Any:
    if isinstance(kept, tuple) and len(kept) == 2 and kept[0] == "json":
        return json.loads(kept[1])
    return kept


def read_cached(path: Path, read: Callable[[Path], Any]) -> Any:
    """`read(path)` (a JSON value, or an error it raises), from memory while the file is unchanged. A missing or
    unreadable file is read every time (its absence is cheap to see and may end at any moment)."""
    stamp = _stamp(path)
    if stamp is None:
        return read(path)
    key = str(path)
    with _LOCK:
        entry = _ENTRIES.get(key)
    if entry is not None and entry[0] == stamp:
        kept = entry[1]
    else:
        try:
            kept = _frozen(read(path))
        except Exception as exc:  # e.g. a file that does not fit its schema: raised again below
            kept = _Failed(exc)
        if _stamp(path) == stamp:  # unchanged while it was read: safe to remember
            with _LOCK:
                if len(_ENTRIES) >= MAX_ENTRIES:
                    _ENTRIES.clear()
                _ENTRIES[key] = (stamp, kept)
    if isinstance(kept, _Failed):  # a fresh error each time (raising one object again would pile up tracebacks)
        raise type(kept.error)(*kept.error.args) from None
    return _thawed(kept)


def derived_cached(paths: Sequence[Path], compute: Callable[[], Any]) -> Any:
    """`compute()`, a JSON value that depends on the files at `paths` alone (e.g. whether a run folder is valid), from
    memory while none of them changes; a missing file is part of what it depends on (its appearing counts as a
    change). Computed again when a file changed while it was computed."""
    key = "derived\0" + "\0".join(map(str, paths))
    stamps = tuple(_stamp(path) for path in paths)
    with _LOCK:
        entry = _ENTRIES.get(key)
    if entry is not None and entry[0] == stamps:
        return _thawed(entry[1])
    value = compute()
    if tuple(_stamp(path) for path in paths) == stamps:
        with _LOCK:
            if len(_ENTRIES) >= MAX_ENTRIES:
                _ENTRIES.clear()
            _ENTRIES[key] = (stamps, _frozen(value))
    return value


def forget(path: Path) -> None:
    """Drop what is remembered of `path` (after writing it)."""
    with _LOCK:
        _ENTRIES.pop(str(path), None)
