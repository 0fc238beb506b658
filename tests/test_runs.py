"""The run directory format and the store."""

import json
import os

import pytest
import torch

from goemo_core.errors import MissingResource
from goemo_core.runs import RunStore


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
