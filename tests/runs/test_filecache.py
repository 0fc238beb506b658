"""Run files kept parsed while unchanged: read again after a write, each reader its own copy, errors kept too."""

from __future__ import annotations

import pytest

from goemo_core.runs import filecache
from goemo_core.runs.atomic import write_json
from goemo_core.runs.schemas import Unreadable


def test_a_file_is_parsed_once_while_unchanged_and_again_after_a_write(tmp_path):
    path, reads = tmp_path / "metrics.json", []

    def read(p):
        reads.append(p)
        import json

        return json.loads(p.read_text())

    write_json(path, {"accuracy": 61.0, "per_class": {"joy": {"f1": 0.5}}})
    first = filecache.read_cached(path, read)
    first["per_class"]["joy"]["f1"] = 0.0  # a reader changing its copy changes nothing for the next one
    again = filecache.read_cached(path, read)
    assert again == {"accuracy": 61.0, "per_class": {"joy": {"f1": 0.5}}} and len(reads) == 1
    write_json(path, {"accuracy": 62.0})  # an atomic write: a new file
    assert filecache.read_cached(path, read) == {"accuracy": 62.0} and len(reads) == 2
    assert filecache.read_cached(tmp_path / "absent.json", lambda p: None) is None


def test_a_file_that_does_not_fit_raises_each_time_until_it_changes(tmp_path):
    path, calls = tmp_path / "status", []

    def read(p):
        calls.append(p)
        raise Unreadable("status 'bogus' is not one of the statuses")

    path.write_text("bogus\n")
    for _ in range(2):
        with pytest.raises(Unreadable, match="bogus"):
            filecache.read_cached(path, read)
    assert len(calls) == 1
    write_json(path, "completed")
    assert filecache.read_cached(path, lambda p: p.read_text()) == '"completed"'


def test_a_run_sees_a_status_written_by_another_run_object(tmp_path):
    from conftest import fake_run

    from goemo_core.runs.store import RunStore

    store = RunStore()
    run = fake_run(store, "gru", 211, 60.0)
    assert store.get(run.run_id).status == "completed"
    run.set_status("cancelled")
    assert store.get(run.run_id).status == "cancelled"  # a fresh Run object reads the file again
    run.write_json("metrics.json", {**run.metrics, "accuracy": 12.5})
    assert store.get(run.run_id).metrics["accuracy"] == 12.5


def test_a_derived_value_is_computed_again_when_any_of_its_files_changes_or_appears(tmp_path):
    first, second, calls = tmp_path / "a.json", tmp_path / "b.json", []

    def compute():
        calls.append(1)
        return {"present": sorted(p.name for p in (first, second) if p.exists())}

    write_json(first, {"x": 1})
    assert filecache.derived_cached([first, second], compute) == {"present": ["a.json"]}
    copy = filecache.derived_cached([first, second], compute)
    copy["present"].append("changed by the reader")
    assert filecache.derived_cached([first, second], compute) == {"present": ["a.json"]} and len(calls) == 1
    write_json(second, {"y": 2})  # a file that was missing appears
    assert filecache.derived_cached([first, second], compute) == {"present": ["a.json", "b.json"]}
    write_json(first, {"x": 3})
    filecache.derived_cached([first, second], compute)
    assert len(calls) == 3


def test_a_run_becomes_unreadable_as_soon_as_a_file_stops_fitting_and_readable_again_when_mended(tmp_path):
    from conftest import fake_run

    from goemo_core.runs.store import RunStore

    store = RunStore()
    run = fake_run(store, "gru", 211, 60.0)
    assert [r.run_id for r in store.list()] == [run.run_id] and store.unreadable() == []
    label = run.path / "label.json"
    label.write_text('{"name": 5}')
    assert store.list() == [] and store.unreadable()[0][0] == run.run_id
    write_json(label, {"name": "mended", "tags": [], "note": ""})
    assert [r.run_id for r in store.list()] == [run.run_id]
