"""The run directory ($GOEMO_HOME/runs/<run_id>/): config, history, metrics, weights, tokenizer, status.
Every write is atomic (write a temporary file, then rename), so a reader never sees half a file."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidConfig, MissingResource
from .files import read_json, save_tensors, write_atomic, write_json
from .settings import Settings, ensure_home, get_settings

STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
FINISHED = ("completed", "failed", "cancelled", "interrupted")

_ACTIVE: set[str] = set()  # runs this process is writing right now
_ACTIVE_LOCK = threading.Lock()


MAX_NAME, MAX_TAGS, MAX_TAG, MAX_NOTE = 80, 10, 30, 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class RunLabel:
    """What a user calls a run: a name, tags and a note. Kept apart from config.json (the record of what was
    trained), so it can be edited at any time."""

    name: str = ""
    tags: list[str] = field(default_factory=list)
    note: str = ""

    @classmethod
    def clean(cls, name: str = "", tags: Any = (), note: str = "") -> "RunLabel":
        """Validated: control characters removed, lengths bounded, tags de-duplicated; too long is refused."""
        name = _CONTROL.sub(" ", str(name or "")).strip()
        if isinstance(tags, str):
            tags = tags.split(",")
        tags = list(dict.fromkeys(t for t in (_CONTROL.sub(" ", str(tag)).strip() for tag in tags or ()) if t))
        note = str(note or "").replace("\x00", "").strip()
        if len(name) > MAX_NAME:
            raise InvalidConfig(f"name: at most {MAX_NAME} characters (got {len(name)}).")
        if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG for tag in tags):
            raise InvalidConfig(f"tags: at most {MAX_TAGS} tags of at most {MAX_TAG} characters each.")
        if len(note) > MAX_NOTE:
            raise InvalidConfig(f"note: at most {MAX_NOTE} characters (got {len(note)}).")
        return cls(name, tags, note)


@dataclass
class Run:
    """One run directory. Files are read once per Run object (pages make fresh objects on every rerun) and the
    cache is refreshed by this object's own writes; `refresh()` forgets it."""

    run_id: str
    path: Path
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def refresh(self) -> "Run":
        self._cache.clear()
        return self

    def _read(self, name: str, parse) -> Any:
        if name not in self._cache:
            self._cache[name] = parse(self.path / name)
        return self._cache[name]

    # --- reading -------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self._read("config.json", lambda p: read_json(p, {}) or {})

    @property
    def status(self) -> str:
        return self._read("status", _read_status)

    @property
    def history(self) -> list[dict]:
        return self._read("history.jsonl", _read_jsonl)

    @property
    def metrics(self) -> dict | None:
        return self._read("metrics.json", read_json)

    @property
    def info(self) -> dict:
        """Facts known at the end of training: best epoch, seconds, parameter count, error text."""
        return self._read("info.json", lambda p: read_json(p, {}) or {})

    @property
    def weights_path(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def tokenizer_path(self) -> Path:
        return self.path / "tokenizer.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "test_predictions.csv"

    @property
    def probabilities_path(self) -> Path:
        return self.path / "probabilities.safetensors"

    def missing_files(self) -> list[str]:
        """Files a completed run must have to be loaded for prediction."""
        needed = ["config.json", "model.safetensors", "tokenizer.json"]
        return [name for name in needed if not (self.path / name).is_file()]

    @property
    def label(self) -> RunLabel:
        document = self._read("label.json", lambda p: read_json(p, {}))
        document = document if isinstance(document, dict) else {}
        return RunLabel(str(document.get("name") or ""), [str(t) for t in document.get("tags") or []],
                        str(document.get("note") or ""))

    @property
    def display_name(self) -> str:
        """The run's name when it has one, else its id: what legends and pickers show."""
        return self.label.name or self.run_id

    def summary(self) -> dict:
        config, metrics, info, history, label = self.config, self.metrics or {}, self.info, self.history, self.label
        return {
            "run_id": self.run_id,
            "name": label.name or None,
            "tags": label.tags,
            "arch": config.get("arch"),
            "limit": config.get("limit"),
            "status": self.status,
            "test_accuracy": metrics.get("accuracy"),
            "test_macro_f1": metrics.get("macro_f1"),
            "created": config.get("created"),
            "epochs": len(history),
            "best_epoch": info.get("best_epoch"),
            "seconds": info.get("seconds"),
            "parameters": info.get("parameters"),
            "device": config.get("device_name") or config.get("device"),
            "augment": config.get("augment"),
            "pretrained": config.get("pretrained"),
            "seed": config.get("seed"),
        }

    # --- writing -------------------------------------------------------------------------------------------
    def write_json(self, name: str, document: Any) -> None:
        write_json(self.path / name, document)
        self._cache.pop(name, None)

    def set_label(self, label: RunLabel) -> None:
        self.write_json("label.json", asdict(label))

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        write_atomic(self.path / "status", status + "\n")
        self._cache.pop("status", None)
        if status in FINISHED:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self.run_id)

    def write_history(self, records: list[dict]) -> None:
        write_atomic(self.path / "history.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        self._cache.pop("history.jsonl", None)

    def save_weights(self, state_dict: dict) -> None:
        save_tensors(self.weights_path, state_dict)

    def save_probabilities(self, by_split: dict) -> None:
        """Class probabilities [N, C] per split ("validation", "test"), as safetensors."""
        save_tensors(self.probabilities_path, {name: p.float() for name, p in by_split.items()})

    def load_probabilities(self) -> dict | None:
        """The stored probabilities per split, None when the run has none (older runs, unfinished runs)."""
        from safetensors.torch import load_file

        try:
            return load_file(str(self.probabilities_path))
        except Exception:
            return None

    def load_weights(self) -> dict:
        """The saved weights (safetensors: nothing is unpickled). A corrupt file is a clear error."""
        from safetensors.torch import load_file

        if not self.weights_path.is_file():
            raise MissingResource(f"Run {self.run_id} has no model.safetensors (it may still be running, or have "
                                  "failed before its first epoch).")
        try:
            return load_file(str(self.weights_path))
        except Exception as exc:
            raise MissingResource(f"Run {self.run_id}: model.safetensors is corrupt and cannot be read "
                                  f"({type(exc).__name__}). Delete the run and train it again.") from None


class RunStore:
    """All runs under one folder. Run ids sort by creation time: <arch>-<yyyymmdd-hhmmss>-<random>."""

    def __init__(self, root: Path | None = None, settings: Settings | None = None):
        self.root = Path(root) if root is not None else (settings or get_settings()).runs_dir

    def create(self, config: dict) -> Run:
        if self.root == get_settings().runs_dir:
            ensure_home()
        self.root.mkdir(parents=True, exist_ok=True)
        run_id = f"{config.get('arch', 'run')}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        run = Run(run_id, self.root / run_id)
        run.path.mkdir(parents=True)
        with _ACTIVE_LOCK:
            _ACTIVE.add(run_id)
        run.write_json("config.json", {**config, "run_id": run_id, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
        run.write_json("owner.json", {"pid": os.getpid(), "host": socket.gethostname()})
        run.set_status("running")
        return run

    def list(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        runs = [Run(p.name, p) for p in self.root.iterdir() if p.is_dir() and (p / "config.json").is_file()]
        return sorted(runs, key=lambda r: r.run_id.split("-", 1)[-1], reverse=True)

    def get(self, run_id: str) -> Run:
        run = Run(run_id, self.root / run_id)
        if "/" in run_id or run_id in ("", ".", "..") or not (run.path / "config.json").is_file():
            raise MissingResource(f"No run '{run_id}' under {self.root}. `python -m goemo_core runs list` shows "
                                  "the runs there (GOEMO_HOME selects the artifacts folder).")
        return run

    def delete(self, run_id: str) -> None:
        run = self.get(run_id)
        with _ACTIVE_LOCK:
            if run_id in _ACTIVE:
                raise MissingResource(f"Run {run_id} is still training; cancel its job before deleting it.")
        shutil.rmtree(run.path)

    def mark_interrupted(self) -> list[str]:
        """Runs left 'running' by a process that is gone (or by this process, which no longer writes them)
        become 'interrupted'. Returns their ids."""
        marked = []
        for run in self.list():
            if run.status != "running" or self._owner_alive(run):
                continue
            run.set_status("interrupted")
            marked.append(run.run_id)
        return marked

    @staticmethod
    def _owner_alive(run: Run) -> bool:
        with _ACTIVE_LOCK:
            if run.run_id in _ACTIVE:
                return True
        owner = read_json(run.path / "owner.json", {}) or {}
        pid, host = owner.get("pid"), owner.get("host")
        if host is not None and host != socket.gethostname():
            return True  # another machine sharing GOEMO_HOME: its processes cannot be checked from here
        if not isinstance(pid, int) or pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _read_status(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "failed"
    except OSError:
        return "failed"


def _read_jsonl(path: Path) -> list[dict]:
    """One record per line; a torn or foreign line is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


# --- helpers for the Compare and Classify pages ----------------------------------------------------------------


def best_epoch(run: Run) -> int | None:
    """The epoch whose weights were kept: info.json's, else the last history record marked best."""
    epoch = run.info.get("best_epoch")
    if epoch:
        return int(epoch)
    marked = [r["epoch"] for r in run.history if r.get("best")]
    return int(marked[-1]) if marked else None


def default_selection(runs: list[Run], k: int = 4) -> list[int]:
    """Positions (in `runs`, newest first) of the most recent completed runs, at most k."""
    return [i for i, run in enumerate(runs) if run.status == "completed"][:k]


def weights_stamp(run: Run) -> float:
    """The weights file's modification time: a cache key that changes when a run is retrained in place."""
    try:
        return run.weights_path.stat().st_mtime
    except OSError:
        return 0.0
