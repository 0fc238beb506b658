"""The 'attack' job: runs in a worker process with progress per example, names the run under attack, writes the
attack when it completes, and a cancel stops it between examples without writing a half attack."""

from __future__ import annotations

import time

import pytest

from goemo_core.jobs.manager import JobManager
from goemo_core.jobs.work import HANDLERS, AttackJob
from goemo_core.runs.attack_files import read_attack, read_attack_examples
from goemo_core.runs.store import RunStore
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

pytestmark = pytest.mark.slow  # a worker process imports TextAttack


@pytest.fixture
def tiny_run():
    settings = {"limit": 200, "epochs": 1, "batch_size": 32, "device": "cpu", "pretrained": None}
    return train_run(make_config("gru", settings, params={"embedding_dim": 16, "hidden_size": 16,
                                                         "head_units": 16})).run


@pytest.fixture
def manager():
    manager = JobManager(HANDLERS, slots={"cpu": 1})
    yield manager
    manager.shutdown(cancel=True, timeout=60)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_an_attack_job_completes_and_a_cancelled_one_writes_nothing(tiny_run, manager):
    done_id = manager.submit("attack", AttackJob((tiny_run.run_id,), ("deepwordbug",), n=6, seed=5))
    done = manager.wait(done_id, timeout=600)
    assert done.status == "completed", done.error
    assert done.run_id == tiny_run.run_id and done.result["attacks"] == 1 and done.progress == 1.0
    document = read_attack(RunStore().get(tiny_run.run_id), "deepwordbug")
    assert document["sample"]["n"] == 6 and document["sample"]["seed"] == 5
    assert len(read_attack_examples(tiny_run, "deepwordbug")) == 6
    assert done.result["accuracy_under_attack"] == document["figures"]["accuracy_under_attack"]

    job_id = manager.submit("attack", AttackJob((tiny_run.run_id,), ("pwws",), n=2000, seed=5))
    job = manager.get(job_id)
    wait_for(lambda: " examples · " in job.progress_text or job.done, 600, "progress per example")
    assert job.status == "running", job.error
    assert f"pwws on {tiny_run.run_id}: " in job.progress_text and "/2,000 examples" in job.progress_text
    asked = time.time()
    manager.cancel(job_id)
    manager.wait(job_id, timeout=60)
    assert job.status == "cancelled" and time.time() - asked < 30
    assert read_attack(tiny_run, "pwws") is None  # an attack cut short is not a figure
    assert read_attack(tiny_run, "deepwordbug") == document  # what finished before is kept
