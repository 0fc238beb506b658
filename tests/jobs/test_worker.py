"""`goemo worker` on a SQLite storage, in this process: it trains a grid's cells as ordinary runs and records them on
their trials, serves a tuning study's queued trial beside them, gives a cell back when stopped, stops once idle,
and keeps stdout for its one JSON document. The real multi-machine run (PostgreSQL, an MLflow server, three
workers, one killed) is tests/jobs/test_workers_postgres.py."""

import json

import optuna
import pytest

from goemo_core import tune
from goemo_core.bench.grid import CELL_ATTR, cell_rows, enqueue_grid, grid_cells, open_grid
from goemo_core.cli import main
from goemo_core.errors import InvalidConfig
from goemo_core.jobs.lanes import lane_devices
from goemo_core.jobs.worker import StopFlags, Worker, WorkerOptions
from goemo_core.runs.store import RunStore

TINY = {"hidden_size": 16, "embedding_dim": 16, "head_units": 16, "limit": 200, "epochs": 1, "pretrained": "none"}


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    yield url
    tune.close_storages()


def test_a_worker_trains_the_cells_and_a_queued_tuning_trial_then_stops_when_idle(storage, capsys):
    enqueue_grid("g", grid_cells(["gru", "lstm"], [211], None, TINY), storage)
    tune.study.enqueue_trials(tune.TuneConfig(arch="gru", study="t", storage=storage, limit=200, epochs=1,
                                              pruner="none", fixed={"pretrained": "none", "hidden_size": 16}), 1)
    assert main(["worker", "--storage", storage, "--gpus", "none", "--exit-when-idle", "--poll", "0.2",
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)  # one JSON document: MLflow's or the log lines never reach stdout
    assert (document["done"], document["failed"], document["released"], document["stopped"]) == (3, 0, 0, "idle")
    assert [(t["study"], t["kind"]) for t in document["trials"]] == [("g", "cell"), ("g", "cell"), ("t", "tune")]

    store = RunStore()
    for row in cell_rows(open_grid("g", storage, create=False)):
        run = store.get(row["run_id"])
        assert row["state"] == "done" and row["attempts"] == 1 and run.status == "completed"
        assert run.config["arch"] == row["arch"] and run.config["seed"] == 211 and run.config["limit"] == 200
        assert row["value"] == run.metrics["validation"]["accuracy"]  # chosen on validation ...
        assert row["test_accuracy"] == run.metrics["accuracy"]  # ... test only reported
        assert row["worker"] == document["worker"] and row["device"] == "CPU"
        assert run.label.tags == ["grid g"]
    study = open_grid("g", storage, create=False)
    assert all(t.intermediate_values == {1: t.value} for t in study.trials)  # one epoch, reported as it ended
    [tuned] = optuna.load_study(study_name="t", storage=tune.open_storage(storage)).trials
    assert tuned.state == optuna.trial.TrialState.COMPLETE and "lr" in tuned.params  # sampled when it started


def test_a_stopped_worker_releases_its_cell_and_keeps_the_run(storage):
    enqueue_grid("g", grid_cells(["gru"], [211, 212], None, TINY), storage)
    stop = StopFlags()

    def log(message: str) -> None:  # SIGTERM once the run folder exists: stop within one batch
        if " parameters, " in message:
            stop.terminate()

    worker = Worker(WorkerOptions(storage=storage), stop, log)
    study, trial = worker.claim()
    worker.train_cell(study, trial)
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING,
                                         optuna.trial.TrialState.WAITING]
    assert trials[0].user_attrs["released"] == "the worker was stopped"
    assert trials[2].user_attrs[CELL_ATTR] == trials[0].user_attrs[CELL_ATTR]  # the cell waits again
    assert RunStore().get(trials[0].user_attrs["run_id"]).status == "cancelled"  # its run is kept
    assert [(r["state"], r["attempts"]) for r in cell_rows(study)] == [("waiting", 0), ("waiting", 0)]

    study, trial = worker.claim()  # stopped as it takes a cell: back to the queue before any data is loaded
    worker.train_cell(study, trial)
    assert study.trials[trial.number].user_attrs.get("run_id") is None
    assert [r["state"] for r in cell_rows(study)] == ["waiting", "waiting"]
    assert worker.summary()["released"] == 2 and len(RunStore().list()) == 1


def test_an_idle_worker_waits_for_a_running_cell_of_another_worker(storage):
    enqueue_grid("g", grid_cells(["gru"], [211], None, TINY), storage)
    busy = Worker(WorkerOptions(storage=storage))
    study, trial = busy.claim()
    idle = Worker(WorkerOptions(storage=storage, exit_when_idle=True))
    assert idle.claim() is None and idle.pending()  # it may still come back: an idle worker keeps waiting
    study.tell(trial.number, 40.0)
    assert not idle.pending()


def test_an_idle_worker_waits_out_a_lost_storage(storage):
    import sqlalchemy.exc

    messages, looks = [], []
    worker = Worker(WorkerOptions(storage=storage, poll_s=0.01), log=messages.append)

    def claim():  # the database restarts: the first look fails, the second finds it back (and the worker is stopped)
        looks.append(1)
        if len(looks) == 1:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        worker.stop.finish.set()

    worker.claim = claim
    assert worker.serve()["stopped"] == "signal" and len(looks) == 2
    assert any(m.startswith("storage unreachable (OperationalError") for m in messages)


def test_lanes_and_what_a_worker_refuses(storage, tmp_path, capsys):
    assert lane_devices("none") == ["cpu"] and lane_devices("none", 2) == ["cpu", "cpu"]
    for gpus, words in (("7", "does not exist"), ("x", "not all, none")):
        with pytest.raises(InvalidConfig, match=words):
            lane_devices(gpus)
    with pytest.raises(InvalidConfig, match="keeps no heartbeat"):
        Worker(WorkerOptions(storage=f"journal:///{tmp_path / 'j.log'}"))
    assert main(["worker", "--storage", storage, "--study", "missing", "--gpus", "none", "--exit-when-idle"]) == 2
    assert "no study 'missing'" in capsys.readouterr().err
    assert main(["worker", "--storage", storage, "--poll", "0"]) == 2


@pytest.mark.slow
def test_two_lanes_share_the_grid_and_ctrl_c_finishes_their_cells(storage, tmp_path):
    """`--slots 2`: two lanes in processes of their own; Ctrl-C on the worker reaches both, each finishes its cell."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    enqueue_grid("g", grid_cells(["gru", "lstm"], [211, 212, 213], None, TINY), storage)
    out, err = tmp_path / "worker.out", tmp_path / "worker.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        worker = subprocess.Popen([sys.executable, "-m", "goemo_core", "worker", "--storage", storage, "--gpus",
                                   "none", "--slots", "2", "--poll", "0.5", "--json"], cwd=ROOT, env=dict(os.environ),
                                  stdout=stdout, stderr=stderr)
    try:
        deadline = time.time() + 240
        while err.read_text().count("] training ") < 2:  # both lanes have a cell in hand
            assert worker.poll() is None and time.time() < deadline, err.read_text()[-2000:]
            time.sleep(0.2)
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=240) == 130
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    document = json.loads(out.read_text())
    assert len(document["lanes"]) == 2 and document["devices"] == ["cpu", "cpu"]
    assert document["done"] == 2 and document["released"] == 0 and document["stopped"] == "signal"
    assert all(lane["done"] == 1 for lane in document["lanes"])  # each lane finished the cell it had
    rows = cell_rows(open_grid("g", storage, create=False))
    assert sorted(r["state"] for r in rows) == ["done", "done", "waiting", "waiting", "waiting", "waiting"]
