"""One run folder ($GOEMO_HOME/runs/<run_id>/): config, history, metrics, weights, tokenizer, status, label, owner
and, for a run pulled from elsewhere, its origin. Every file is read through its schema (see schemas.py) and written
atomically (write a temporary file, then rename), so a reader never sees half a file."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

from ..errors import InvalidConfig, MissingResource
from .atomic import save_tensors, write_atomic, write_json
from .filecache import derived_cached, read_cached
from .schemas import (FINISHED, MAX_NAME, MAX_NOTE, MAX_TAG, MAX_TAGS, STATUSES, RunCalibration, RunConfig, RunInfo,
                      RunLabelFile, RunMetrics, RunOrigin, RunOwner, Unreadable, is_whole, metrics_against_config,
                      read_document, read_history, read_predictions, read_status)

# Runs this process is writing right now: their owner is alive whatever owner.json says (see RunStore).
ACTIVE: set[str] = set()
ACTIVE_LOCK = threading.Lock()

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


# Each file of a run folder and the one schema it is read through (see goemo_core.runs.schemas).
SCHEMAS = {"config.json": RunConfig, "metrics.json": RunMetrics, "info.json": RunInfo, "label.json": RunLabelFile,
           "owner.json": RunOwner, "calibration.json": RunCalibration, "origin.json": RunOrigin}
# Files computed from the others (analysis of what the run stored): one that does not fit is shown as missing and
# computed again, never a reason to hide the run's training results.
DERIVED = ("calibration.json",)
VALIDATED = ("config.json", "status", "metrics.json", "info.json", "label.json", "owner.json", "origin.json",
             "history.jsonl")  # the files `problem` checks


@dataclass
class Run:
    """One run directory. Files are read once per Run object (pages make fresh objects on every rerun), each
    through its schema, and the cache is refreshed by this object's own writes; `refresh()` forgets it. A file
    that does not fit makes the run unreadable (`problem`); the accessors then give empty values."""

    run_id: str
    path: Path
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def refresh(self) -> "Run":
        self._cache.clear()
        return self

    def _read(self, name: str) -> Any:
        """The parsed file (None when absent), or the Unreadable that says why it does not fit."""
        if name not in self._cache:
            reader = (read_status if name == "status" else read_history if name == "history.jsonl" else
                      partial(read_document, schema=SCHEMAS[name]))
            try:
                value = read_cached(self.path / name, reader)  # parsed once while the file is unchanged
            except Unreadable as exc:
                value = exc
            self._cache[name] = value
        return self._cache[name]

    def _valid(self, name: str, default: Any) -> Any:
        value = self._read(name)
        return default if value is None or isinstance(value, Unreadable) else value

    # --- reading -------------------------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The run's settings; always a dict ({} when config.json is unreadable: see `problem`)."""
        return self._valid("config.json", {})

    @property
    def problem(self) -> str | None:
        """Why this run folder cannot be used (a file that does not fit its schema, or files that contradict each
        other), or None when it can. Unreadable runs are listed as such by `runs list`, can be deleted, and are
        left out of every table, page and ensemble."""
        if "problem" not in self._cache:  # a verdict on these files alone: kept while none of them changes
            self._cache["problem"] = derived_cached([self.path / name for name in VALIDATED], self._find_problem)
        return self._cache["problem"]

    def _find_problem(self) -> str | None:
        if self._read("config.json") is None:
            return "config.json is missing"
        for name in VALIDATED:
            value = self._read(name)
            if isinstance(value, Unreadable):
                return str(value)
        metrics = self._read("metrics.json")
        if metrics is not None:
            contradiction = metrics_against_config(metrics, self.config)
            if contradiction:
                return contradiction
        if self._read("status") == "completed" and not isinstance((metrics or {}).get("accuracy"), (int, float)):
            return "the status says completed but metrics.json holds no test accuracy"
        return None

    def derived_file(self, name: str) -> dict | Unreadable | None:
        """A derived file (see DERIVED) through its schema: the document, None when absent, or the Unreadable that
        says why it does not fit."""
        if name not in DERIVED:
            raise ValueError(f"{name} is not a derived run file ({', '.join(DERIVED)})")
        return self._read(name)

    @property
    def status(self) -> str:
        """running, completed, failed, cancelled, interrupted or diverged; 'failed' when there is no status file
        (a run cut off while its folder was made) or it is unreadable (see `problem`)."""
        return self._valid("status", "failed")

    @property
    def history(self) -> list[dict]:
        return self._valid("history.jsonl", [])

    @property
    def metrics(self) -> dict | None:
        """The test metrics; None when the run has none or the folder is unreadable (see `problem`)."""
        return self._valid("metrics.json", None) if self.problem is None else None

    @property
    def info(self) -> dict:
        """Facts known at the end of training: best epoch, seconds, parameter count, error text."""
        return self._valid("info.json", {})

    @property
    def owner(self) -> dict:
        """The process that trains (or trained) the run: pid, host, start time; {} when unknown."""
        return self._valid("owner.json", {})

    @property
    def origin(self) -> dict:
        """Where the folder came from when it was not trained here (see `runs pull`); {} for a run trained here."""
        return self._valid("origin.json", {})

    @property
    def trained_on(self) -> tuple[str | None, str | None]:
        """(host, device) the run was trained on: the owner's host and the config's device name."""
        return self.owner.get("host"), self.config.get("device_name") or self.config.get("device")

    @property
    def weights_path(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def tokenizer_path(self) -> Path:
        return self.path / "tokenizer.json"

    @property
    def predictions_path(self) -> Path:
        return self.path / "test_predictions.csv"

    def test_predictions(self) -> Any:
        """test_predictions.csv as a DataFrame (see schemas.read_predictions); None when the run has none;
        Unreadable says why a damaged one cannot be used (the run itself stays usable without it)."""
        return read_predictions(self.predictions_path)

    @property
    def probabilities_path(self) -> Path:
        return self.path / "probabilities.safetensors"

    @property
    def is_ensemble(self) -> bool:
        """An ensemble run: the averaged probabilities of member runs, with no weights of its own."""
        return self.config.get("kind") == "ensemble"

    def missing_files(self) -> list[str]:
        """Files a completed run must have to be loaded for prediction."""
        needed = ["config.json"] if self.is_ensemble else ["config.json", "model.safetensors", "tokenizer.json"]
        return [name for name in needed if not (self.path / name).is_file()]

    @property
    def label(self) -> RunLabel:
        document = self._valid("label.json", {})
        return RunLabel(document.get("name", ""), list(document.get("tags", [])), document.get("note", ""))

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
            "task": str(config.get("task") or "ekman"),  # runs from before tasks existed: the seed's task
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
            "host": self.owner.get("host"),
            "augment": config.get("augment"),
            "pretrained": config.get("pretrained"),
            "seed": config.get("seed"),
        }

    # --- writing -------------------------------------------------------------------------------------------
    def write_json(self, name: str, document: Any) -> None:
        write_json(self.path / name, document)
        self._forget(name)

    def _forget(self, name: str) -> None:
        self._cache.pop(name, None)
        self._cache.pop("problem", None)

    def set_label(self, label: RunLabel) -> None:
        self.write_json("label.json", asdict(label))

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        write_atomic(self.path / "status", status + "\n")
        self._forget("status")
        if status in FINISHED:
            with ACTIVE_LOCK:
                ACTIVE.discard(self.run_id)

    def write_history(self, records: list[dict]) -> None:
        write_atomic(self.path / "history.jsonl", "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
        self._forget("history.jsonl")

    def save_weights(self, state_dict: dict) -> None:
        save_tensors(self.weights_path, state_dict)

    def save_test_predictions(self, ids: list[str], texts: list[str], labels: Any, probabilities: Any,
                              classes: Sequence[str], thresholds: Sequence[float] | None = None) -> None:
        """test_predictions.csv: per test example its text, true and predicted class and the confidence (the
        Compare page lists the examples behind a confusion cell from it). With `thresholds` (a multi-label run),
        `labels` are 0/1 flags and true/predicted list every label, comma-separated."""
        import numpy as np
        import pandas as pd

        classes = list(classes)
        probabilities = np.asarray(probabilities)
        if thresholds is None:
            true = [classes[int(i)] for i in labels]
            predicted = [classes[int(i)] for i in probabilities.argmax(-1)]
        else:
            flagged = probabilities >= np.asarray(thresholds)[None, :]
            true = [", ".join(c for c, on in zip(classes, row) if on) for row in np.asarray(labels)]
            predicted = [", ".join(c for c, on in zip(classes, row) if on) for row in flagged]
        frame = pd.DataFrame({"id": ids, "text": texts, "true": true, "predicted": predicted,
                              "confidence": probabilities.max(-1).round(4)})
        write_atomic(self.predictions_path, frame.to_csv(index=False))

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


def best_epoch(run: Run) -> int | None:
    """The epoch whose weights were kept: info.json's, else the last history record marked best."""
    epoch = run.info.get("best_epoch")
    if is_whole(epoch) and epoch > 0:
        return epoch
    marked = [r["epoch"] for r in run.history if r.get("best")]
    return int(marked[-1]) if marked else None


def weights_stamp(run: Run) -> float:
    """The weights file's modification time (an ensemble's config's): a cache key that changes when a run is
    retrained in place."""
    try:
        return (run.path / "config.json" if run.is_ensemble else run.weights_path).stat().st_mtime
    except OSError:
        return 0.0
