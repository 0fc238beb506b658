"""Atomic file writes and tolerant JSON reads: the one way the library writes what other processes may read.

A write goes to a temporary file named after this process, thread and a random token in the same folder, then is
renamed over the target, so a reader sees the old file or the new one, never half of one, and two writers (threads
or processes) never share a temporary file."""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from ..errors import MissingResource
from ..settings import ensure_folder


def temporary_sibling(path: Path) -> Path:
    """A hidden name beside `path` that no other writer uses."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}.tmp")


def write_with(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` fills a temporary file, which then replaces `path` in one rename (removed on failure)."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def prepare_folder_place(folder: Path) -> Path:
    """Make sure `folder` can be written by write_folder: its parents exist as folders, and it is a folder or
    nothing. A file in its place is a clear error (never removed to make room: it may be someone's file)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MissingResource(f"{folder} is a file where a folder is expected; move or delete it (or set "
                              "GOEMO_HOME to another folder).")
    ensure_folder(folder.parent)
    return folder


def write_folder(folder: Path, fill: Callable[[Path], object]) -> None:
    """`fill(tmp)` writes a hidden sibling folder, which then replaces `folder` (readers see the old folder or
    the whole new one; a failure leaves the old one)."""
    folder = prepare_folder_place(folder)
    tmp = temporary_sibling(folder)
    tmp.mkdir()
    try:
        fill(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Text (UTF-8) or bytes, atomically."""
    if isinstance(data, bytes):
        write_with(path, lambda tmp: tmp.write_bytes(data))
    else:
        write_with(path, lambda tmp: tmp.write_text(data, encoding="utf-8"))


def write_json(path: Path, document: Any) -> None:
    """Standard JSON only: a non-finite number is a ValueError, never a file other readers refuse."""
    write_atomic(path, json.dumps(document, indent=2, default=str, allow_nan=False))


def read_json(path: Path, default: Any = None) -> Any:
    """The parsed file, or `default` when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def save_tensors(path: Path, tensors: dict) -> None:
    """A safetensors file (never a pickle), atomically."""
    from safetensors.torch import save_file

    contiguous = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    write_with(path, lambda tmp: save_file(contiguous, str(tmp)))
