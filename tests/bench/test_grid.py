"""A grid as an Optuna study: cells checked and kept as a configuration reads them, enqueued once (again: only the
missing ones), their states read back from the study, a dead worker's cell failed by its heartbeat and queued again
once, and what a grid refuses. No training here (see tests/jobs/test_worker.py)."""

import json
import time

import optuna
import pytest

from goemo_core import tune
from goemo_core.bench.grid import (CELL_ATTR, Cell, cell_rows, enqueue_cell, enqueue_grid, grid_cells, grid_progress,
                                   list_grids, open_grid)
from goemo_core.cli import main
from goemo_core.errors import InvalidConfig
from goemo_core.jobs.worker import Worker, WorkerOptions
from goemo_core.tune.storage import GRACE_ENV, HEARTBEAT_ENV, RETRY_ATTR

TINY = {"hidden_size": "16", "embedding_dim": 16, "limit": 200, "epochs": 1, "pretrained": "none"}


@pytest.fixture
def storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    yield url
    tune.close_storages()


def test_cells_are_checked_and_kept_as_the_configuration_reads_them():
    cells = grid_cells(["gru", "lstm"], [211, 212], None, TINY)
    assert [(c.arch, c.seed, c.task) for c in cells] == [("gru", 211, "ekman"), ("gru", 212, "ekman"),
                                                         ("lstm", 211, "ekman"), ("lstm", 212, "ekman")]
    assert cells[0].settings == {"embedding_dim": 16, "epochs": 1, "hidden_size": 16, "limit": 200,
                                 "pretrained": None}
    same = grid_cells(["gru"], [211], "ekman", {**TINY, "hidden_size": 16})[0]
    assert same.key() == cells[0].key()  # "16" from --set and 16 from a form are one cell
    config = cells[0].train_config("cpu")
    assert (config.arch, config.seed, config.params["hidden_size"], config.limit, config.device) == (
        "gru", 211, 16, 200, "cpu")
    assert Cell.from_attr(json.loads(json.dumps(cells[0].to_attr()))) == cells[0]  # as a storage gives it back
    for bad, words in (({"seed": 3}, "a cell has its own seed"), ({"device": "cuda"}, "each worker decides"),
                       ({"hidden_size": "x"}, "hidden_size"), ({"nonsense": 1}, "unknown setting")):
        with pytest.raises(InvalidConfig, match=words):
            grid_cells(["gru"], [211], None, bad)
    with pytest.raises(InvalidConfig, match="not a grid cell"):
        Cell.from_attr({"arch": "gru", "seed": "211", "task": "ekman"})


def test_enqueueing_again_adds_only_the_missing_cells(storage):
    first = enqueue_grid("g", grid_cells(["gru", "lstm"], [211, 212], None, TINY), storage)
    assert (first["cells"], first["added"], first["kept"]) == (4, 4, 0)
    assert first["counts"] == {"done": 0, "running": 0, "waiting": 4, "failed": 0}
    again = enqueue_grid("g", grid_cells(["gru", "lstm"], [211, 212, 213], None, TINY), storage)
    assert (again["cells"], again["added"], again["kept"]) == (6, 2, 4)
    other_recipe = enqueue_grid("g", grid_cells(["gru"], [211], None, {**TINY, "hidden_size": 32}), storage)
    assert other_recipe["added"] == 1  # another recipe is another cell of the same grid
    study = open_grid("g", storage, create=False)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 7 and all(CELL_ATTR in t.user_attrs for t in waiting)
    assert waiting[0].system_attrs["fixed_params"] == {"arch": "gru", "seed": 211, "task": "ekman"}
    assert study.user_attrs[RETRY_ATTR] == 1 and list_grids(storage) == ["g"]

    # a failed cell is missing again; a done one is not
    rows = cell_rows(study)
    study.tell(_take(study, rows[0]["trial"]), 50.0)
    study.tell(_take(study, rows[1]["trial"]), state=optuna.trial.TrialState.FAIL)
    progress = grid_progress("g", storage)
    assert progress["counts"] == {"done": 1, "running": 0, "waiting": 5, "failed": 1}
    assert [c["state"] for c in progress["cells"][:2]] == ["done", "failed"]
    assert progress["cells"][0]["value"] == 50.0
    refill = enqueue_grid("g", grid_cells(["gru", "lstm"], [211, 212, 213], None, TINY), storage)
    assert refill["added"] == 1 and refill["counts"]["failed"] == 0 and refill["counts"]["waiting"] == 6


def _take(study, number):
    """Mark a waiting trial running, as a worker takes it; returns its number."""
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    assert study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.RUNNING)
    return number


def test_a_dead_workers_cell_is_failed_by_its_heartbeat_and_queued_again_once(storage, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "1")
    monkeypatch.setenv(GRACE_ENV, "2")
    enqueue_grid("g", grid_cells(["gru"], [211], None, TINY), storage)
    worker = Worker(WorkerOptions(storage=storage, studies=("g",)))
    study, first = worker.claim()  # taken, one heartbeat recorded, then silence: the worker "died"
    assert worker.claim() is None  # nothing else waits
    time.sleep(3.2)
    study, second = worker.claim()  # the stale trial is failed and its copy taken
    assert second.number != first.number
    assert study.trials[first.number].state == optuna.trial.TrialState.FAIL
    assert second.system_attrs["failed_trial"] == first.number and second.user_attrs[CELL_ATTR] == first.user_attrs[
        CELL_ATTR]
    time.sleep(3.2)
    assert worker.claim() is None  # the retry died too: failed for good
    rows = cell_rows(open_grid("g", storage, create=False))
    assert [(r["state"], r["attempts"]) for r in rows] == [("failed", 2)]


def test_a_released_cell_comes_back_without_using_its_retry(storage):
    [cell] = grid_cells(["gru"], [211], None, TINY)
    study = open_grid("g", storage)
    enqueue_cell(study, cell, {"failed_trial": 0, "retry_history": [0]})
    [trial] = study.get_trials()
    assert trial.system_attrs["retry_history"] == [0] and Cell.from_attr(trial.user_attrs[CELL_ATTR]) == cell


def test_what_a_grid_refuses(storage, tmp_path, capsys):
    with pytest.raises(InvalidConfig, match="keeps no heartbeat"):
        open_grid("g", f"journal:///{tmp_path / 'j.log'}")
    tune.plan.open_study(tune.TuneConfig(arch="gru", study="tuned", storage=storage, limit=200))
    with pytest.raises(InvalidConfig, match="is a tuning study"):
        open_grid("tuned", storage)
    with pytest.raises(InvalidConfig, match="no grid 'nothing'"):
        open_grid("nothing", storage, create=False)
    enqueue_grid("g", grid_cells(["gru"], [211], None, TINY), storage)
    with pytest.raises(InvalidConfig, match="is a benchmark grid"):
        tune.plan.open_study(tune.TuneConfig(arch="gru", study="g", storage=storage))
    base = ["bench", "accuracy", "--archs", "gru", "--seeds", "1", "--limit", "200", "--study", "g2",
            "--storage", storage]
    for extra, words in ((["--parallel", "2"], "--parallel"), (["--device", "cpu"], "--device"),
                         (["--set", "seed=3"], "--set seed"), (["--fresh"], "--fresh")):
        assert main([*base, *extra]) == 2
        assert words in capsys.readouterr().err
    assert main(["bench", "accuracy", "--storage", storage]) == 2
    assert "--study" in capsys.readouterr().err


def test_bench_accuracy_with_a_study_enqueues_and_bench_grid_reads_it(storage, capsys):
    command = ["bench", "accuracy", "--archs", "gru", "lstm", "--seeds", "2", "--limit", "200", "--epochs", "1",
               "--set", "hidden_size=16", "--study", "cli", "--storage", storage, "--json"]
    assert main(command) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["added"], document["counts"]["waiting"]) == (4, 4)
    assert main(command) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 0
    assert main(["bench", "grid", "--study", "cli", "--storage", storage, "--json"]) == 0
    progress = json.loads(capsys.readouterr().out)
    assert [(c["arch"], c["seed"], c["state"]) for c in progress["cells"]] == [
        ("gru", 211, "waiting"), ("gru", 212, "waiting"), ("lstm", 211, "waiting"), ("lstm", 212, "waiting")]
    assert main(["bench", "grid", "--study", "cli", "--storage", storage]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].endswith("0 done, 0 running, 4 waiting, 0 failed") and "hidden_size=16" in text
