"""The run directory format and the store."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
from conftest import digest

from goemo_core.errors import MissingResource
from goemo_core.runs.folder import RunLabel
from goemo_core.runs.store import RunStore


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
    from goemo_core.runs import store as runs

    runs.ACTIVE.discard(run.run_id)
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
    ("metrics.json", {"accuracy": 50.0, "per_class": {"a": {"precision": 1, "recall": 1, "f1": 1, "support": 1}},
                      "confusion": [[1]]}, "'per_class' has 1 classes, not 3"),
    ("metrics.json", {"accuracy": 50.0, "per_class": {c: {"precision": 1, "recall": 1, "f1": 1, "support": 1}
                                                      for c in "abc"}}, "'per_class' scores without their 'confusion'"),
    ("metrics.json", {"accuracy": 50.0, "per_class": {c: {"precision": 1, "recall": 1, "f1": 1, "support": 1}
                                                      for c in "xbc"}, "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]},
     "'per_class' names 'x' where config.json lists the classes 'a', 'b', 'c'"),
    ("history.jsonl", "".join(f'{{"epoch": {i}}}\n' for i in range(1, 1002)), "more than 1,000 epochs"),
    ("history.jsonl", '{"epoch": 1, "val_loss": "low"}\n', "history.jsonl line 1: 'val_loss' should be a valid number"),
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
    from goemo_core.runs import store as runs

    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    runs.ACTIVE.discard(run.run_id)  # as if another process had created it: only owner.json says who trains it
    run.write_json("owner.json", {"pid": os.getppid(), "host": socket.gethostname()})
    before = digest(run.path)
    with pytest.raises(MissingResource, match=f"{run.run_id} is still training \\(process {os.getppid()}"):
        store.delete(run.run_id)
    assert digest(run.path) == before
    run.write_json("owner.json", {"pid": 2**22 + 12345, "host": socket.gethostname()})  # that process is gone
    store.delete(run.run_id)
    assert store.list() == []


def test_a_taken_run_id_is_replaced_by_a_fresh_one(tmp_path, monkeypatch):
    from goemo_core.runs import store as runs

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
    from goemo_core.runs import store as runs

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


# --- every file through its schema: damage in any of them is "unreadable: reason", never an exception -------------


def _completed(store, **config):
    run = store.create({"arch": "gru", "seed": 1, "classes": ["a", "b", "c"], **config})
    run.write_history([{"epoch": 1, "train_loss": 1.0, "val_accuracy": 50.0}])
    run.write_json("metrics.json", {"accuracy": 55.0, "macro_f1": 0.4, "cost": {"cpu_latency_ms": 2.0}})
    run.write_json("info.json", {"best_epoch": 1, "parameters": 10})
    run.set_label(RunLabel("good", ["x"], ""))
    run.set_status("completed")
    return run


@pytest.mark.parametrize("name, content, reason", [
    ("status", b"\xff\xfe\x00broken", "status is not UTF-8 text"),
    ("status", b"finished\n", "status 'finished' is not one of"),
    ("label.json", b'{"name": "x", "tags": 5}', "label.json: 'tags' should be a valid list"),
    ("label.json", b'{"tags": ["' + b"t" * 40 + b'"]}', "'tags.0' string should have at most 30"),
    ("owner.json", b'{"pid": "12"}', "owner.json: 'pid' should be a valid integer"),
    ("metrics.json", b'{"accuracy": 55.0, "cost": "cheap"}', "metrics.json: 'cost' should be an object"),
    ("metrics.json", b'{"accuracy": 55.0, "cost": {"parameters": "many"}}', "'cost.parameters' should be a valid"),
    ("metrics.json", b'{"accuracy": Infinity, "macro_f1": 0.4}', "non-standard number Infinity"),
    ("metrics.json", b'{"accuracy": 55.0, "macro_f1": NaN}', "non-standard number NaN"),
    ("metrics.json", b'{"accuracy": 155.0}', "'accuracy' should be less than or equal to 100"),
    ("info.json", b'{"best_epoch": true}', "info.json: 'best_epoch' should be a valid integer"),
    ("history.jsonl", b'{"epoch": 1}\n{"epoch": 1.5}\n', "history.jsonl line 2: 'epoch' should be a valid"),
    ("history.jsonl", b'{"epoch": 1, "train_loss": NaN}\n', "non-standard number NaN"),
    ("config.json", b'{"arch": "gru", "vocab_size": 1000000000000}', "'vocab_size' should be less than or equal"),
    ("config.json", b'{"arch": "gru", "max_length": 1000000000}', "'max_length' should be less than or equal to"),
    ("config.json", b'{"arch": "ensemble", "kind": "ensemble", "run_id": "e", "members": ["e", "f"]}',
     "cannot list itself"),
])
def test_damage_in_any_run_file_is_listed_as_unreadable_and_deletable(tmp_path, monkeypatch, capsys, name, content,
                                                                       reason):
    from goemo_core.cli import main

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    good, bad = _completed(store), _completed(store)
    (bad.path / name).write_bytes(content)
    before = digest(good.path)
    assert [r.run_id for r in store.list()] == [good.run_id]
    [(run_id, why)] = store.unreadable()
    assert run_id == bad.run_id and reason in why, why
    for command in (["runs", "list", "--json"], ["runs", "summary", "--json"]):
        assert main(command) == 0
        document = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
        if command[1] == "list":
            rows = {row["run_id"]: row for row in document}
            assert rows[bad.run_id]["status"] == "unreadable" and reason in rows[bad.run_id]["reason"]
            assert rows[good.run_id]["status"] == "completed"
    assert main(["runs", "list"]) == 0 and "unreadable" in capsys.readouterr().out
    assert main(["runs", "delete", bad.run_id]) == 0
    assert store.unreadable() == [] and digest(good.path) == before


def test_a_completed_status_without_test_metrics_is_not_listed_as_completed(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    run.set_status("completed")
    assert store.list() == [] and "holds no test accuracy" in store.unreadable()[0][1]


def test_an_owner_pid_beyond_what_the_os_allows_is_a_dead_owner(tmp_path, monkeypatch, capsys):
    from goemo_core.cli import main
    from goemo_core.runs import store as runs

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    for pid in (2**62, 2**31 + 5):
        run = store.create({"arch": "gru"})
        runs.ACTIVE.discard(run.run_id)
        run.write_json("owner.json", {"pid": pid, "host": socket.gethostname()})
    assert main(["runs", "list", "--json"]) == 0
    assert {row["status"] for row in json.loads(capsys.readouterr().out)} == {"interrupted"}
    for run in store.list():
        assert main(["runs", "delete", run.run_id]) == 0
    assert store.list() == []


def test_a_reused_pid_is_not_the_owner(tmp_path):
    """owner.json records the owner's start time: a live process that later got the same pid does not own the run,
    so the run becomes interrupted and can be deleted."""
    from goemo_core.runs import processes
    from goemo_core.runs import store as runs

    store = RunStore(tmp_path / "runs")
    run = store.create({"arch": "gru"})
    assert run.owner["pid"] == os.getpid() and run.owner["started"] == processes.process_start_time(os.getpid())
    runs.ACTIVE.discard(run.run_id)
    live = os.getppid()  # alive for the whole test, but not the process that started the run
    run.write_json("owner.json", {"pid": live, "host": socket.gethostname(),
                                  "started": processes.process_start_time(live)})
    assert store.mark_interrupted() == [] and store.get(run.run_id).status == "running"
    with pytest.raises(MissingResource, match="still training"):
        store.delete(run.run_id)
    run.write_json("owner.json", {"pid": live, "host": socket.gethostname(),
                                  "started": processes.process_start_time(live) + 1})
    assert store.mark_interrupted() == [run.run_id]
    store.delete(run.run_id)
    assert store.list() == []


def test_an_ensemble_whose_members_loop_back_is_refused(tmp_path):
    from goemo_core.serving.predict import load_predictor

    store = RunStore(tmp_path / "runs")
    first = store.create({"arch": "ensemble", "kind": "ensemble", "members": ["placeholder", "other"]})
    second = store.create({"arch": "ensemble", "kind": "ensemble", "members": [first.run_id, "other"]})
    first.write_json("config.json", {**first.config, "members": [second.run_id, "other"]})
    with pytest.raises(MissingResource, match="loop back"):
        load_predictor(store.get(first.run_id))
    with pytest.raises(MissingResource, match="loop back"):
        store.members(store.get(second.run_id))
