"""The JobManager: work in worker processes, bounded concurrency (slots), train jobs end to end with progress inside
an epoch, cancel (queued and running, within one batch), failures and killed workers, and runs left 'running' by a
dead process marked 'interrupted'. Tiny models on CPU."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goemo_core.errors import InvalidConfig
from goemo_core.jobs.context import JobContext
from goemo_core.jobs.manager import JobManager, default_slots, gpu_slots
from goemo_core.jobs.work import HANDLERS
from goemo_core.runs.store import RunStore
from goemo_core.training.config import TrainConfig, make_config

TINY = {"embedding_dim": 16, "hidden_size": 16, "head_units": 16}


def tiny_config(arch: str = "lstm", **recipe) -> TrainConfig:
    settings = {"limit": 200, "epochs": 1, "batch_size": 32, "device": "cpu", "pretrained": None, **recipe}
    return make_config(arch, settings, params=TINY)


@pytest.fixture
def manager():
    manager = JobManager(HANDLERS, slots={"cpu": 1})
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
    # small batches: an epoch must outlast the spacing of progress messages for one to land inside it
    job_id = manager.submit("train", tiny_config(epochs=50, patience=50, scheduler="none", limit=3000, batch_size=4))
    job = manager.get(job_id)
    seen: set[str] = set()

    def later_epoch_in_progress(text: str) -> bool:
        return " · batch " in text and not text.startswith("epoch 1 of 50 ")

    def two_epochs_and_progress_inside_a_later_one() -> bool:
        # the first later epoch that shows one
        seen.add(job.progress_text)
        return (len(job.history) >= 2 and any(map(later_epoch_in_progress, seen))) or job.done

    wait_for(two_epochs_and_progress_inside_a_later_one, 180, "two epochs and progress inside a later one")
    assert job.status == "running", job.error
    assert job.worker_pid not in (None, os.getpid())
    # progress inside an epoch: batches done, examples/s and what is left
    inside = [text for text in seen if " · batch " in text]
    assert inside and all("examples/s" in text for text in inside), seen
    assert any(re.match(r"epoch ([2-9]|[1-4][0-9]) of 50 · batch ", text) for text in seen), seen
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


# Handlers of the tests below: module-level, so a spawned worker can import them by name.
def boom(config: dict, context: JobContext) -> dict:
    context.log("about to fail")
    raise RuntimeError("kaboom in the handler")


def polite(config: dict, context: JobContext) -> dict:
    raise InvalidConfig("lr: -1 must be a positive number.")


def ok(config: dict, context: JobContext) -> dict:
    context.progress(0.5, "half way")
    context.add_history({"epoch": 1, "val_accuracy": 50.0})
    return {"answer": config["x"] * 2, "pid": os.getpid()}


def wait_for_file(config: dict, context: JobContext) -> dict:
    """Runs until `release` exists (or a cancel); notes when it started and ended in `log`."""
    log = Path(config["log"])
    with log.open("a") as handle:
        handle.write(f"start {config['name']} {time.time()}\n")
    while not Path(config["release"]).exists():
        context.check_cancel()
        time.sleep(0.02)
    with log.open("a") as handle:
        handle.write(f"end {config['name']} {time.time()}\n")
    return {}


def crash(config: dict, context: JobContext) -> dict:
    """Dies as an out-of-memory kill would: no exception, no final message."""
    context.set_run(config["run_id"])
    context.log("allocating")
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def test_failing_handler_records_traceback_and_manager_keeps_working():
    manager = JobManager({"boom": boom, "polite": polite, "ok": ok}, slots={"cpu": 1})
    try:
        failed = manager.wait(manager.submit("boom", {}), 60)
        assert failed.status == "failed"
        assert failed.error == "RuntimeError: kaboom in the handler"
        assert "Traceback" in failed.traceback and "boom" in failed.traceback
        assert any("about to fail" in line for line in failed.logs)

        refused = manager.wait(manager.submit("polite", {}), 60)
        assert refused.status == "failed" and refused.error.startswith("lr:") and refused.traceback is None

        done = manager.wait(manager.submit("ok", {"x": 21}), 60)
        assert done.status == "completed" and done.result["answer"] == 42 and done.history[0]["epoch"] == 1
        assert done.result["pid"] != os.getpid() and done.worker_pid == done.result["pid"]  # another process
    finally:
        manager.shutdown()


def test_a_killed_worker_fails_its_job_and_run_and_the_manager_goes_on():
    store = RunStore()
    run = store.create({"arch": "gru"})
    run.write_history([{"epoch": 1, "val_accuracy": 40.0}])
    manager = JobManager({"crash": crash, "ok": ok}, slots={"cpu": 1})
    try:
        job = manager.wait(manager.submit("crash", {"run_id": run.run_id}), 60)
        assert job.status == "failed" and "SIGKILL" in job.error and "out of memory" in job.error
        assert job.run_id == run.run_id and any("allocating" in line for line in job.logs)
        again = store.get(run.run_id)
        assert again.status == "failed" and "SIGKILL" in again.info["error"]
        assert again.history == [{"epoch": 1, "val_accuracy": 40.0}]  # its finished epochs are kept
        assert manager.wait(manager.submit("ok", {"x": 1}), 60).status == "completed"
    finally:
        manager.shutdown()


def test_queued_job_cancelled_before_it_starts(tmp_path):
    log, release = tmp_path / "log.txt", tmp_path / "release"
    manager = JobManager({"wait": wait_for_file}, slots={"cpu": 1})
    try:
        first = manager.submit("wait", {"name": "first", "log": str(log), "release": str(release)})
        wait_for(lambda: log.exists(), 60, "the first job to start")
        queued = manager.submit("wait", {"name": "queued", "log": str(log), "release": str(release)})
        time.sleep(0.3)
        assert manager.get(queued).status == "queued"
        assert [j.id for j in manager.active()] == [first, queued]  # the running job's card comes first

        manager.cancel(queued)
        assert manager.get(queued).status == "cancelled"  # at once, without waiting for a slot
        assert not manager.get(queued).ever_ran and manager.get(first).ever_ran
        release.touch()
        assert manager.wait(first, 60).status == "completed"
        after = manager.wait(manager.submit("wait", {"name": "after", "log": str(log), "release": str(release)}), 60)
        assert after.status == "completed"
        started = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")]
        assert started == ["first", "after"]  # the cancelled job's handler never ran
        manager.remove(queued)
        assert queued not in {j.id for j in manager.jobs()}
    finally:
        release.touch()
        manager.shutdown()


def test_cards_are_ordered_running_then_queued_then_finished_and_cancelling_shows_at_once(tmp_path):
    log, release = tmp_path / "log.txt", tmp_path / "release"
    manager = JobManager({"wait": wait_for_file, "stubborn": ignore_cancel}, slots={"cpu": 1})
    try:
        done = manager.submit("wait", {"name": "done", "log": str(log), "release": str(tmp_path / "at-once")})
        (tmp_path / "at-once").touch()
        manager.wait(done, 60)
        running = manager.submit("stubborn", {"release": str(release)})
        wait_for(lambda: manager.get(running).status == "running", 60, "the second job to start")
        queued = [manager.submit("wait", {"name": n, "log": str(log), "release": str(release)}) for n in "ab"]
        assert [j.id for j in manager.jobs()] == [running, queued[1], queued[0], done]

        manager.cancel(running)
        job = manager.get(running)
        assert job.cancelling and job.status == "running" and "cancelling" in job.progress_text
        release.touch()
        assert manager.wait(running, 60).status == "completed" and not job.cancelling
    finally:
        release.touch()
        manager.shutdown()


def ignore_cancel(config: dict, context: JobContext) -> dict:
    """Runs until `release` exists, whatever cancel says: a batch that takes long."""
    while not Path(config["release"]).exists():
        time.sleep(0.02)
    return {}


def test_slots_bound_how_many_jobs_run_at_once(tmp_path):
    """Two slots (as GOEMO_GPU_SLOTS=2 gives one GPU): two jobs run together, the third waits for a slot."""
    log, release = tmp_path / "log.txt", tmp_path / "release"
    manager = JobManager({"wait": wait_for_file}, slots={"cpu": 2})
    try:
        ids = [manager.submit("wait", {"name": name, "log": str(log), "release": str(release)})
               for name in ("a", "b", "c")]
        wait_for(lambda: log.exists() and log.read_text().count("start") == 2, 60, "two jobs to start")
        time.sleep(0.5)
        assert [manager.get(i).status for i in ids].count("running") == 2
        assert [manager.get(i).status for i in ids].count("queued") == 1
        release.touch()
        assert [manager.wait(i, 60).status for i in ids] == ["completed"] * 3
        lines = log.read_text().splitlines()
        events = sorted((float(t), kind, name) for kind, name, t in (line.split() for line in lines))
        running, most = 0, 0
        for _, kind, _ in events:
            running += 1 if kind == "start" else -1
            most = max(most, running)
        assert most == 2
    finally:
        release.touch()
        manager.shutdown()


def test_queued_jobs_start_in_the_order_they_were_submitted_and_say_what_they_wait_for(tmp_path):
    """One slot, six jobs submitted while the first runs: they start first in, first out (a semaphore's waiters
    woke in any order), and each queued card says how many jobs are ahead of it."""
    log, release = tmp_path / "log.txt", tmp_path / "release"
    manager = JobManager({"wait": wait_for_file}, slots={"cpu": 1})
    names = ["lstm 211", "lstm 212", "lstm 213", "gru 211", "gru 212", "gru 213"]
    try:
        ids = [manager.submit("wait", {"name": name.replace(" ", "-"), "log": str(log), "release": str(release)})
               for name in names]
        wait_for(lambda: log.exists(), 60, "the first job to start")
        time.sleep(0.5)  # every queued supervisor has polled for the slot meanwhile
        assert [manager.get(i).progress_text for i in ids[1:3]] == ["waiting for the CPU slot: 1 job ahead",
                                                                   "waiting for the CPU slot: 2 jobs ahead"]
        manager.cancel(ids[1])
        wait_for(lambda: manager.get(ids[2]).progress_text == "waiting for the CPU slot: 1 job ahead", 10,
                 "the queue to move up")
        release.touch()
        assert [manager.wait(i, 120).status for i in ids[2:]] == ["completed"] * 4
        started = [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start")]
        assert started == [name.replace(" ", "-") for name in names if name != "lstm 212"]
    finally:
        release.touch()
        manager.shutdown()


def test_gpu_slots_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GOEMO_GPU_SLOTS", "4")
    assert gpu_slots() == 4
    monkeypatch.setenv("GOEMO_GPU_SLOTS", "many")
    assert gpu_slots() == 3
    monkeypatch.delenv("GOEMO_GPU_SLOTS")
    assert gpu_slots() == 3 and default_slots()["cpu"] == 1


def test_unknown_kind_is_refused():
    manager = JobManager(HANDLERS, slots={"cpu": 1})
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

    marked = store.mark_interrupted()  # what the app does once when its server starts
    assert sorted(marked) == sorted([dead_run, orphan])
    assert store.get(dead_run).status == "interrupted"
    assert store.get(orphan).status == "interrupted"
    assert store.get(alive).status == "running"  # its owner still runs
    assert store.get(finished).status == "completed"
    assert store.mark_interrupted() == []  # marked once


def test_a_worker_never_runs_the_page_that_started_it(tmp_path, monkeypatch):
    """Streamlit runs each page as __main__; a spawned worker must not execute that page again."""
    import types

    marker = tmp_path / "page-ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    manager = JobManager({"ok": ok}, slots={"cpu": 1})
    try:
        assert manager.wait(manager.submit("ok", {"x": 2}), 60).status == "completed"
    finally:
        manager.shutdown()
    assert not marker.exists()
    assert sys.modules["__main__"] is main  # put back for the page


def stuck(config: dict, context: JobContext) -> dict:
    """A step that never looks at the cancel flag (tokenising, building EDA variants, timing): one long sleep."""
    context.set_run(config["run_id"])
    context.log("a long step")
    time.sleep(600)
    return {}


def deaf(config: dict, context: JobContext) -> dict:
    """Worse: a step that does not even hear SIGTERM (native code holding on)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    context.set_run(config["run_id"])
    time.sleep(600)
    return {}


@pytest.mark.parametrize("handler, stopped_by", [(stuck, "SIGTERM"), (deaf, "SIGKILL")])
def test_a_stuck_worker_is_stopped_after_the_grace_period_and_its_job_ends_cancelled(monkeypatch, handler,
                                                                                   stopped_by):
    import goemo_core.jobs.manager as manager_module

    monkeypatch.setattr(manager_module, "CANCEL_GRACE_S", 1.0)
    monkeypatch.setattr(manager_module, "KILL_GRACE_S", 2.0)
    store = RunStore()
    run = store.create({"arch": "gru"})
    run.write_history([{"epoch": 1, "val_accuracy": 40.0}])
    manager = JobManager({"stuck": handler, "ok": ok}, slots={"cpu": 1})
    try:
        job_id = manager.submit("stuck", {"run_id": run.run_id})
        wait_for(lambda: manager.get(job_id).run_id == run.run_id, 60, "the worker to start its step")
        started = time.monotonic()
        manager.cancel(job_id)
        job = manager.wait(job_id, 60)
        assert job.status == "cancelled" and job.error is None
        assert time.monotonic() - started < 30  # not the 600 s the step would take
        wait_for(lambda: not process_alive(job.worker_pid), 30, "the worker process to be gone")
        again = store.get(run.run_id)
        assert again.status == "cancelled" and again.history == [{"epoch": 1, "val_accuracy": 40.0}]  # kept
        if stopped_by == "SIGKILL":
            assert any("SIGKILL" in line for line in job.logs)
        assert manager.wait(manager.submit("ok", {"x": 2}), 60).status == "completed"  # the slot is free again
    finally:
        manager.shutdown(timeout=10)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
