"""The JobManager: bounded concurrency, train jobs end to end, cancel (queued and running), failures, and runs left
'running' by a dead process marked 'interrupted' at start-up. Tiny models on CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from goemo_core.errors import InvalidConfig
from goemo_core.jobs import JobContext, JobManager
from goemo_core.runs import RunStore
from goemo_core.train import make_config

TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


def tiny_config(arch: str = "lstm", **recipe) -> dict:
    settings = {"limit": 200, "epochs": 1, "batch_size": 32, "device": "cpu", "pretrained": None, **recipe}
    return make_config(arch, settings, params=TINY).to_dict()


@pytest.fixture
def manager():
    manager = JobManager(slots={"cpu": 1})
    yield manager
    manager.shutdown(cancel=True, timeout=30)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_jobs_both_complete_one_at_a_time_and_both_runs_are_listed(manager):
    first = manager.submit("train", tiny_config("lstm"), title="lstm")
    second = manager.submit("train", tiny_config("gru"), title="gru")
    jobs = [manager.wait(first, 120), manager.wait(second, 120)]

    assert [job.status for job in jobs] == ["completed", "completed"], [job.error for job in jobs]
    # one CPU slot: the second started only once the first had finished
    assert jobs[1].started >= jobs[0].finished
    runs = {run.run_id: run for run in RunStore().list()}
    assert {job.run_id for job in jobs} <= set(runs)
    for job in jobs:
        run = runs[job.run_id]
        assert run.status == "completed" and run.metrics is not None
        assert job.result["run_id"] == job.run_id and job.progress == 1.0
        assert len(job.history) == 1 and "val_accuracy" in job.history[0]


def test_cancel_running_train_job_stops_quickly_and_keeps_history(manager):
    job_id = manager.submit("train", tiny_config(epochs=50, patience=50, scheduler="none"))
    job = manager.get(job_id)
    wait_for(lambda: len(job.history) >= 1 or job.done, 120, "the first epoch")
    assert job.status == "running", job.error
    assert "epoch" in job.progress_text and "examples/s" in job.progress_text
    assert job.eta_seconds is not None and job.eta_seconds > 0

    asked = time.time()
    manager.cancel(job_id)
    manager.wait(job_id, timeout=10)
    assert time.time() - asked < 5
    assert job.status == "cancelled"
    assert 1 <= len(job.history) < 50
    run = RunStore().get(job.run_id)
    assert run.status == "cancelled"
    assert [r["epoch"] for r in run.history] == [r["epoch"] for r in job.history]
    assert run.weights_path.is_file()  # the best epoch so far is kept


def test_failing_handler_records_traceback_and_manager_keeps_working():
    def boom(config: dict, context: JobContext) -> dict:
        context.log("about to fail")
        raise RuntimeError("kaboom in the handler")

    def polite(config: dict, context: JobContext) -> dict:
        raise InvalidConfig("lr: -1 must be a positive number.")

    def ok(config: dict, context: JobContext) -> dict:
        context.progress(0.5, "half way")
        context.add_history({"epoch": 1, "val_accuracy": 50.0})
        return {"answer": config["x"] * 2}

    manager = JobManager(slots={"cpu": 1}, handlers={"boom": boom, "polite": polite, "ok": ok})
    try:
        failed = manager.wait(manager.submit("boom", {}), 10)
        assert failed.status == "failed"
        assert failed.error == "RuntimeError: kaboom in the handler"
        assert "Traceback" in failed.traceback and "boom" in failed.traceback
        assert any("about to fail" in line for line in failed.logs)

        refused = manager.wait(manager.submit("polite", {}), 10)
        assert refused.status == "failed" and refused.error.startswith("lr:") and refused.traceback is None

        done = manager.wait(manager.submit("ok", {"x": 21}), 10)
        assert done.status == "completed" and done.result == {"answer": 42} and done.history[0]["epoch"] == 1
    finally:
        manager.shutdown()


def test_queued_job_cancelled_before_it_starts():
    release, started = threading.Event(), []

    def blocker(config: dict, context: JobContext) -> dict:
        while not release.is_set():
            context.check_cancel()
            time.sleep(0.01)
        return {}

    def record(config: dict, context: JobContext) -> dict:
        started.append(config["name"])
        return {}

    manager = JobManager(slots={"cpu": 1}, handlers={"block": blocker, "record": record})
    try:
        first = manager.submit("block", {})
        wait_for(lambda: manager.get(first).status == "running", 10, "the blocker to start")
        queued = manager.submit("record", {"name": "queued"})
        time.sleep(0.3)
        assert manager.get(queued).status == "queued"
        assert [j.id for j in manager.active()] == [queued, first]

        manager.cancel(queued)
        assert manager.get(queued).status == "cancelled"  # at once, without waiting for a slot
        release.set()
        assert manager.wait(first, 10).status == "completed"
        after = manager.wait(manager.submit("record", {"name": "after"}), 10)
        assert after.status == "completed"
        assert started == ["after"]  # the cancelled job's handler never ran
        manager.remove(queued)
        assert queued not in {j.id for j in manager.jobs()}
    finally:
        release.set()
        manager.shutdown()


def test_unknown_kind_is_refused():
    manager = JobManager(slots={"cpu": 1})
    with pytest.raises(Exception, match="Unknown job kind"):
        manager.submit("nope", {})


def _fake_run(store: RunStore, name: str, owner: dict) -> str:
    path = store.root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"arch": "lstm", "run_id": name}))
    (path / "status").write_text("running\n")
    (path / "owner.json").write_text(json.dumps(owner))
    return name


def test_runs_left_running_by_a_dead_process_are_marked_interrupted():
    store = RunStore()
    store.root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    dead_run = _fake_run(store, "lstm-20240101-000000-dead", {"pid": dead.pid, "host": host})
    # this very process, but not writing the run: a previous server in the same process (or a crash)
    orphan = _fake_run(store, "gru-20240101-000001-mine", {"pid": os.getpid(), "host": host})
    alive = _fake_run(store, "gru-20240101-000002-live", {"pid": os.getppid(), "host": host})
    finished = _fake_run(store, "lstm-20240101-000003-done", {"pid": dead.pid, "host": host})
    (store.root / finished / "status").write_text("completed\n")

    manager = JobManager(slots={"cpu": 1})  # a restart of the app: the manager is created afresh
    assert sorted(manager.interrupted) == sorted([dead_run, orphan])
    assert store.get(dead_run).status == "interrupted"
    assert store.get(orphan).status == "interrupted"
    assert store.get(alive).status == "running"  # its owner still runs
    assert store.get(finished).status == "completed"
    assert JobManager(slots={"cpu": 1}).interrupted == []  # marked once
