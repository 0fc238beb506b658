"""Property-based: damaged run folders (random bytes, JSON of the wrong types, non-standard numbers, missing files)
never break a listing, a summary, a table or a delete, and nothing is listed as completed that is not."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goemo_core.cli import main
from goemo_core.results import choice, run_tables, summary
from goemo_core.runs.schemas import STATUSES
from goemo_core.results.selection import default_selection
from goemo_core.runs.store import RunStore

FILES = ("config.json", "metrics.json", "info.json", "label.json", "owner.json", "status", "history.jsonl")

GOOD = {
    "config.json": {"arch": "gru", "seed": 211, "limit": 200, "max_length": 30, "vocab_size": 100, "pad_id": 0,
                    "params": {"hidden_size": 16}, "classes": ["anger", "disgust", "fear", "joy", "sadness",
                                                               "surprise", "neutral"], "created": "2026-01-01"},
    "metrics.json": {"accuracy": 55.0, "macro_f1": 0.4, "validation": {"accuracy": 50.0, "macro_f1": 0.3},
                     "cost": {"parameters": 10, "cpu_latency_ms": 1.5, "train_seconds": 3.0}},
    "info.json": {"best_epoch": 1, "seconds": 3.0, "parameters": 10, "notes": []},
    "label.json": {"name": "a run", "tags": ["x"], "note": ""},
    "owner.json": {"pid": 2**40, "host": socket.gethostname()},  # a pid no system hands out: a dead owner
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _dumps(value) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity as Python writes them: non-standard JSON


@st.composite
def damaged_content(draw, name: str) -> bytes | None:
    """What one file holds: nothing, random bytes, any JSON, or its good document with one key changed."""
    choice = draw(st.sampled_from(["missing", "bytes", "json", "one key", "good"]))
    if choice == "missing":
        return None
    if choice == "bytes":
        return draw(st.binary(max_size=64))
    if name == "status":
        return draw(st.sampled_from([*STATUSES, "", "done", "completed\x00"])).encode() if choice != "json" \
            else _dumps(draw(json_values))
    if name == "history.jsonl":
        records = draw(st.lists(st.fixed_dictionaries({"epoch": json_values, "train_loss": json_values}), max_size=3))
        return b"".join(_dumps(r) + b"\n" for r in records) if choice != "good" else b'{"epoch": 1}\n'
    if choice == "json":
        return _dumps(draw(json_values))
    document = dict(GOOD[name])
    if choice == "one key":
        keys = [*document, "cost", "per_class", "confusion", "kind", "members", "embedding_init_dim", "started"]
        document[draw(st.sampled_from(keys))] = draw(json_values)
    return _dumps(document)


@st.composite
def run_folders(draw) -> list[dict[str, bytes | None]]:
    """One to three run folders, each with a status and one to three damaged files."""
    folders = []
    for _ in range(draw(st.integers(1, 3))):
        contents = {name: _dumps(GOOD[name]) for name in GOOD}
        contents["status"] = b"completed\n"
        contents["history.jsonl"] = b'{"epoch": 1, "train_loss": 0.5}\n'
        for name in draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=3, unique=True)):
            contents[name] = draw(damaged_content(name))
        folders.append(contents)
    return folders


@contextlib.contextmanager
def artifacts_folder():
    previous = os.environ.get("GOEMO_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["GOEMO_HOME"] = home
        try:
            yield Path(home)
        finally:
            os.environ.pop("GOEMO_HOME") if previous is None else os.environ.__setitem__("GOEMO_HOME", previous)


def strict(text: str):
    def refuse(constant: str):
        raise AssertionError(f"non-standard JSON number {constant}")

    return json.loads(text, parse_constant=refuse)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(folders=run_folders())
def test_damaged_run_folders_never_break_a_reader(folders, capsys):
    with artifacts_folder() as home:
        for i, contents in enumerate(folders):
            folder = home / "runs" / f"gru-20260101-00000{i}-ab{i}"
            folder.mkdir(parents=True)
            (folder / "config.json").write_bytes(b"{}")  # a folder counts as a run once it has a config.json
            for name, content in contents.items():
                if content is None:
                    (folder / name).unlink(missing_ok=True)
                else:
                    (folder / name).write_bytes(content)
        capsys.readouterr()
        assert main(["runs", "list", "--json"]) == 0
        rows = strict(capsys.readouterr().out)
        store = RunStore()
        for row in rows:
            assert row["status"] in (*STATUSES, "unreadable")
            if row["status"] == "completed":  # only what really completed: readable, with a test accuracy
                run = store.get(row["run_id"])
                assert run.problem is None and isinstance(run.metrics["accuracy"], (int, float))
        assert main(["runs", "summary", "--json"]) == 0
        strict(capsys.readouterr().out)
        runs = store.list()
        run_tables.comparison_table(runs)
        run_tables.comparison_export(runs).to_csv(index=False)
        summary.seed_summary(runs)
        summary.leaderboard(runs)
        if summary.pooled(runs):  # its callers pass runs that include a completed one with test metrics
            summary.summarise_runs(runs)
        run_tables.run_labels(runs)
        default_selection(runs)
        for run in runs:
            run_tables.describe_run(run)
            summary.cost_of(run)
        if runs:
            choice.best_run(runs)
        kept = set()
        for row in rows:
            code, err = main(["runs", "delete", row["run_id"]]), capsys.readouterr().err
            if code != 0:  # only a run whose owner may still train it (a live pid, another host) is kept
                assert code == 3 and "still training" in err and store.get(row["run_id"]).status == "running", err
                kept.add(row["run_id"])
        left = {p.name for p in (home / "runs").iterdir() if (p / "config.json").exists()}
        assert left == kept
