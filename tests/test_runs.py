"""The run directory format and the store."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch

from goemo_core.errors import MissingResource
from goemo_core.runs import RunStore

from conftest import digest


def test_run_directory_round_trips(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru", "seed": 1})
    run.write_history([{"epoch": 1, "val_accuracy": 50.0}, {"epoch": 2, "val_accuracy": 55.0}])
    run.write_json("metrics.json", {"accuracy": 55.0, "macro_f1": 0.4})
    weights = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2)}
    run.save_weights(weights)
    run.set_status("completed")
    again = store.get(run.run_id)
    assert again.config["arch"] == "gru" and again.config["run_id"] == run.run_id
    assert [h["epoch"] for h in again.history] == [1, 2]
    assert again.metrics["accuracy"] == 55.0 and again.status == "completed"
    loaded = again.load_weights()
    assert torch.equal(loaded["w"], weights["w"])
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave no temp files
    assert [r.run_id for r in store.list()] == [run.run_id]
    store.delete(run.run_id)
    assert store.list() == []


def test_corrupt_weights_and_missing_runs_are_clear_errors(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    run.weights_path.write_bytes(b"not a safetensors file")
    with pytest.raises(MissingResource, match="corrupt"):
        run.load_weights()
    with pytest.raises(MissingResource, match="No run"):
        store.get("../../etc")


def test_runs_left_running_by_dead_processes_become_interrupted(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    assert store.mark_interrupted() == []  # this process is still writing it
    run.write_json("owner.json", {"pid": 2**22 + 12345, "host": os.uname().nodename})
    from goemo_core import runs

    runs._ACTIVE.discard(run.run_id)
    assert store.mark_interrupted() == [run.run_id]
    assert store.get(run.run_id).status == "interrupted"


def test_history_lines_are_json(tmp_path):
    run = RunStore(tmp_path / "runs").create({"arch": "lstm"})
    run.write_history([{"epoch": 1}])
    assert json.loads((run.path / "history.jsonl").read_text().splitlines()[0]) == {"epoch": 1}


# --- faults: damaged folders, live owners, links, unwritable folders, id collisions ---------------------------------


def _damage(path, name, content):
    (path / name).write_text(content if isinstance(content, str) else json.dumps(content))


@pytest.mark.parametrize("name, content, reason", [
    ("config.json", [1, 2], "config.json holds a list, not an object"),
    ("config.json", "{not json", "config.json is not valid JSON"),
    ("config.json", {"max_length": "thirty"}, "'max_length' should be a valid integer (got 'thirty')"),
    ("config.json", {"vocab_size": [12000]}, "'vocab_size' should be a valid integer"),
    ("config.json", {"pad_id": "0"}, "'pad_id' should be a valid integer"),
    ("config.json", {"embedding_init_dim": 1.5}, "'embedding_init_dim' should be a valid integer (got 1.5)"),
    ("config.json", {"max_length": 0}, "'max_length' should be greater than or equal to 1"),
    ("config.json", {"arch": None}, "'arch' should be a valid string"),
    ("config.json", {"params": [16]}, "'params' should be a valid dictionary"),
    ("metrics.json", [55.0], "metrics.json holds a list, not an object"),
    ("metrics.json", {"accuracy": "high", "macro_f1": 0.4}, "'accuracy' should be a valid number"),
    ("metrics.json", {"accuracy": 50.0, "macro_f1": 0.4, "confusion": [[1, 2]]}, "'confusion' is not a square"),
    ("metrics.json", {"accuracy": 50.0, "confusion": [[1, 0], [0, 1]]}, "'confusion' is not a square"),  # 3 classes
    ("metrics.json", {"accuracy": 50.0, "per_class": {"a": {"precision": 1, "recall": 1, "f1": 1, "support": 1}}},
     "'per_class' has 1 classes, not 3"),
])
def test_a_damaged_run_folder_is_unreadable_not_fatal(tmp_path, name, content, reason):
    store = RunStore(tmp_path / "runs")
    good = store.create({"arch": "gru", "seed": 1, "max_length": 30, "classes": ["a", "b", "c"]})
    good.write_json("metrics.json", {"accuracy": 55.0, "macro_f1": 0.4})
    good.set_status("completed")
    bad = store.create({"arch": "lstm", "seed": 2, "max_length": 30, "classes": ["a", "b", "c"]})
    bad.set_status("completed")
    if name == "config.json" and isinstance(content, dict):
        content = {**bad.config, **content}
    _damage(bad.path, name, content)
    before = digest(good.path)
    assert [r.run_id for r in store.list()] == [good.run_id]
    [(run_id, why)] = store.unreadable()
    assert run_id == bad.run_id and reason in why
    damaged = store.get(bad.run_id)  # still reachable, so it can be deleted
    assert isinstance(damaged.config, dict) and damaged.problem == why
    assert damaged.summary()["run_id"] == bad.run_id  # summarising it does not raise either
    store.delete(bad.run_id)
    assert store.unreadable() == [] and digest(good.path) == before


def test_a_run_trained_by_another_live_process_is_not_deleted(tmp_path):
    from goemo_core import runs

    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    runs._ACTIVE.discard(run.run_id)  # as if another process had created it: only owner.json says who trains it
    run.write_json("owner.json", {"pid": os.getppid(), "host": socket.gethostname()})
    before = digest(run.path)
    with pytest.raises(MissingResource, match=f"{run.run_id} is still training \\(process {os.getppid()}"):
        store.delete(run.run_id)
    assert digest(run.path) == before
    run.write_json("owner.json", {"pid": 2**22 + 12345, "host": socket.gethostname()})  # that process is gone
    store.delete(run.run_id)
    assert store.list() == []


def test_a_taken_run_id_is_replaced_by_a_fresh_one(tmp_path, monkeypatch):
    from goemo_core import runs

    suffixes = iter(["beef", "beef", "cafe"])
    monkeypatch.setattr(runs.secrets, "token_hex", lambda n: next(suffixes))
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *args: "20200101-000000")  # two runs in one second
    store = RunStore(tmp_path / "runs")
    first = store.create({"arch": "gru", "seed": 1})
    before = digest(first.path)
    second = store.create({"arch": "gru", "seed": 2})
    assert (first.run_id, second.run_id) == ("gru-20200101-000000-beef", "gru-20200101-000000-cafe")
    assert digest(first.path) == before and second.config["seed"] == 2


def test_an_unwritable_runs_folder_is_a_clear_error(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    store.root.mkdir()
    mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):  # root ignores chmod: refuse like a read-only folder would
        if self.parent == store.root:
            raise PermissionError(13, "Permission denied", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(MissingResource, match="Cannot create a run folder .*Permission denied.*GOEMO_HOME"):
        store.create({"arch": "gru"})
    assert list(store.root.iterdir()) == []


def test_delete_never_follows_a_symbolic_link(tmp_path):
    outside = RunStore(tmp_path / "elsewhere").create({"arch": "gru"})
    outside.set_status("cancelled")
    store = RunStore(tmp_path / "runs")
    store.root.mkdir()
    link = store.root / "gru-20200101-000000-link"
    link.symlink_to(outside.path, target_is_directory=True)
    before = digest(outside.path)
    with pytest.raises(MissingResource, match="symbolic link"):
        store.delete(link.name)
    assert link.is_symlink() and digest(outside.path) == before


def test_delete_in_a_read_only_folder_loses_nothing(tmp_path, monkeypatch):
    from goemo_core import runs

    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    run.set_status("cancelled")
    before = digest(run.path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(runs.os, "rename", refuse)  # the runs folder is read-only
        with pytest.raises(MissingResource, match="not writable .*Nothing was deleted"):
            store.delete(run.run_id)
    assert digest(run.path) == before
    with monkeypatch.context() as patch:
        patch.setattr(runs.shutil, "rmtree", refuse)  # the run folder is read-only: it is put back
        with pytest.raises(MissingResource, match="Cannot delete run .* completely"):
            store.delete(run.run_id)
    assert digest(run.path) == before and [r.run_id for r in store.list()] == [run.run_id]
    assert [p.name for p in store.root.iterdir()] == [run.run_id]


@pytest.mark.parametrize("run_id", ["a" * 300, "é" * 150, "x\x00y", ".hidden", "..", "a/b", "a\\b", ""])
def test_odd_run_ids_are_missing_runs(tmp_path, run_id):
    store = RunStore(tmp_path / "runs")
    store.create({"arch": "gru"}).set_status("cancelled")
    for action in (store.get, store.delete):
        with pytest.raises(MissingResource, match="No run"):
            action(run_id)
    assert len(store.list()) == 1
