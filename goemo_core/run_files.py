"""Reading a run folder's files, and telling whether they describe a usable run: a damaged config.json or
metrics.json makes a run unreadable (listed with the reason, left out of every table) instead of breaking every
reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .files import read_json

# Config entries the Predictor and the reports turn into sizes or sort keys: whole numbers when present.
WHOLE_NUMBER_KEYS = {"max_length": 1, "vocab_size": 1, "pad_id": 0, "embedding_init_dim": 1, "seed": None,
                     "limit": 1}  # key -> smallest allowed value (None: any)


def read_status(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "failed"
    except OSError:
        return "failed"


def read_jsonl(path: Path) -> list[dict]:
    """One record per line; a torn or foreign line (not an object with a whole-number epoch) is skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return []
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and is_whole(record.get("epoch")):
            records.append(record)
    return records


MISSING = object()


def read_json_or_missing(path: Path) -> Any:
    """The parsed file; None when it does not exist; MISSING when it exists but is not JSON."""
    if not path.exists():
        return None
    return read_json(path, MISSING)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def kind(value: Any) -> str:
    return {list: "a list", dict: "an object", str: "a string", type(None): "null", bool: "a boolean",
            float: "a decimal number"}.get(type(value), "a number")


def config_problem(config: Any) -> str | None:
    """Why a parsed config.json cannot describe a run, or None."""
    if config is MISSING:
        return "config.json is unreadable or not valid JSON"
    if not isinstance(config, dict):
        return f"config.json holds {kind(config)}, not an object"
    arch = config.get("arch")
    if not isinstance(arch, str) or not arch:
        return "config.json has no architecture ('arch')"
    if not isinstance(config.get("params", {}) or {}, dict):
        return "config.json: 'params' is not an object"
    for key, least in WHOLE_NUMBER_KEYS.items():
        value = config.get(key)
        if value is None:
            continue
        if not is_whole(value):
            return f"config.json: '{key}' is {kind(value)}, not a whole number"
        if least is not None and value < least:
            return f"config.json: '{key}' is {value}, below {least}"
    return None


def metrics_problem(metrics: Any, classes: int | None = None) -> str | None:
    """Why a parsed metrics.json cannot be shown, or None (also for a run without one). `classes`: how many the
    run's config names, when it does."""
    if metrics is None:
        return None
    if metrics is MISSING or not isinstance(metrics, dict):
        return "metrics.json is not a JSON object"
    for key in ("accuracy", "macro_f1"):
        if key in metrics and not is_number(metrics[key]):
            return f"metrics.json: '{key}' is not a number"
    per_class = metrics.get("per_class")
    if per_class is not None:
        if not isinstance(per_class, dict) or not all(
                isinstance(row, dict) and all(is_number(row.get(k)) for k in ("precision", "recall", "f1", "support"))
                for row in per_class.values()):
            return "metrics.json: 'per_class' is not a table of numbers"
        if classes is not None and len(per_class) != classes:
            return f"metrics.json: 'per_class' has {len(per_class)} classes, not {classes}"
    confusion = metrics.get("confusion")
    if confusion is not None:
        size = classes or (len(per_class) if isinstance(per_class, dict) else None)
        size = size or (len(confusion) if isinstance(confusion, list) else 0)
        if not (isinstance(confusion, list) and size and len(confusion) == size and all(
                isinstance(row, list) and len(row) == size and all(is_number(v) for v in row) for row in confusion)):
            return "metrics.json: 'confusion' is not a square matrix of counts, one row per class"
    return None
