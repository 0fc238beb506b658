"""Distributed studies on a real PostgreSQL server: two `tune` workers share one study, one is killed with SIGKILL in
the middle of a trial, and the study still accounts for every trial (the dead worker's trial fails once its heartbeat
expires); the password shows nowhere. The server is started for the test (tests/servers.py: initdb into a temporary
folder, password authentication, 127.0.0.1 on a free port) and removed afterwards."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
import sqlalchemy
from conftest import ROOT
from servers import running_postgres

from goemo_core import tune
from goemo_core.settings import mask_url
from goemo_core.tune.storage import GRACE_ENV, HEARTBEAT_ENV

pytestmark = pytest.mark.slow

PASSWORD = "Pg@s3cr3t:only-here"  # an @ and a : inside: the URLs must percent-encode them, the logs must hide them
USER, DATABASE = "goemo", "optuna"
TINY = {"embedding_dim": 8, "hidden_size": 8, "num_layers": 1, "head_layers": 1, "head_units": 8}
HEARTBEAT_S, GRACE_S = 1, 3  # seconds: a dead worker's trial fails within seconds, not minutes
HEARTBEATS = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats")  # Optuna's table of last heartbeats
SURVIVOR_TIMEOUT_S = 15  # the surviving worker keeps starting trials this long, well past the victim's grace


@dataclass
class Server:
    port: int
    folder: Path

    def url(self, style: str = "userinfo") -> str:
        """The study's URL with the password in the user info, or as a query parameter."""
        secret = quote(PASSWORD, safe="")
        if style == "userinfo":
            return f"postgresql+psycopg://{USER}:{secret}@127.0.0.1:{self.port}/{DATABASE}"
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{DATABASE}?password={secret}"


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server (see servers.running_postgres), its cached storages dropped afterwards."""
    try:
        with running_postgres(USER, PASSWORD, DATABASE) as (port, folder):
            yield Server(port, folder)
    finally:
        tune.close_storages()


@pytest.fixture
def heartbeat(monkeypatch):
    """Short heartbeats for this process and the workers it starts; cached storages dropped afterwards."""
    monkeypatch.setenv(HEARTBEAT_ENV, str(HEARTBEAT_S))
    monkeypatch.setenv(GRACE_ENV, str(GRACE_S))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    tune.close_storages()


def leaked(text: str) -> list[str]:
    return [piece for piece in (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD), "s3cr3t", "only-here")
            if piece in text]


def wait_for(condition, timeout: float, what: str, workers=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        for worker in workers:
            assert worker.poll() is None, f"a worker exited early ({worker.returncode}) while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_workers_share_a_postgres_study_and_a_killed_workers_trial_fails(postgres, heartbeat, tmp_path):
    command = [sys.executable, "-m", "goemo_core", "tune", "--arch", "gru", "--limit", "200", "--epochs", "1",
               "--pruner", "none", "--study", "shared", "--device", "cpu", "--json",
               *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]]
    victim_url, survivor_url = postgres.url("userinfo"), postgres.url("query")
    logs = {name: (tmp_path / f"{name}.out", tmp_path / f"{name}.err") for name in ("victim", "survivor")}

    def start(name: str, *extra: str) -> subprocess.Popen:
        out, err = logs[name]
        with out.open("w") as stdout, err.open("w") as stderr:
            return subprocess.Popen([*command, *extra], cwd=ROOT, env=dict(os.environ), stdout=stdout, stderr=stderr)

    victim = start("victim", "--n-trials", "50", "--storage", victim_url)
    survivor = start("survivor", "--n-trials", "200", "--timeout", str(SURVIVOR_TIMEOUT_S), "--storage", survivor_url)
    try:
        # the test's own connection only once a worker has created the tables (no third process racing for them)
        wait_for(lambda: "study shared on" in logs["victim"][1].read_text() + logs["survivor"][1].read_text(),
                 120, "a worker to open the study", (victim, survivor))
        storage = tune.open_storage(victim_url)
        study = optuna.load_study(study_name="shared", storage=storage)
        victim_worker = f"{socket.gethostname()}:{victim.pid}"

        def victims_running_trial():
            with storage.engine.connect() as connection:  # only a trial that has sent a heartbeat can go stale
                beating = {row[0] for row in connection.execute(HEARTBEATS)}
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                if trial.user_attrs.get("worker") == victim_worker and trial._trial_id in beating:
                    return trial
            return None

        doomed = wait_for(victims_running_trial, 120, "a running trial of the victim", (victim, survivor))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        killed_at = time.time()
        assert study._storage.get_trial(doomed._trial_id).state == optuna.trial.TrialState.RUNNING  # mid-trial

        survivor.wait(timeout=SURVIVOR_TIMEOUT_S + 150)
    finally:
        for worker in (victim, survivor):
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    out, err = (path.read_text() for path in logs["survivor"])
    assert survivor.returncode == 0, err[-2000:]
    assert time.time() - killed_at > GRACE_S  # the survivor outlived the dead worker's grace period

    # every trial accounted for: numbered 0..n-1 once each, all finished, the killed one failed, the rest complete
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))) and len(trials) >= 3, numbers
    assert all(t.state.is_finished() for t in trials), collections.Counter(t.state.name for t in trials)
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert [t.number for t in failed] == [doomed.number], [(t.number, t.user_attrs) for t in failed]
    assert failed[0].datetime_complete is not None and "error" not in failed[0].user_attrs  # failed by heartbeat
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials if t.number != doomed.number)
    per_worker = collections.Counter(t.user_attrs.get("worker") for t in trials)
    assert set(per_worker) == {victim_worker, f"{socket.gethostname()}:{survivor.pid}"}, per_worker
    assert per_worker[victim_worker] == 1 + sum(  # the victim's finished trials and the one it died in
        t.user_attrs.get("worker") == victim_worker for t in trials if t.state == optuna.trial.TrialState.COMPLETE)

    document = json.loads(out)
    assert document["study"] == "shared" and document["n_trials"] == len(trials)
    assert document["states"] == {"complete": len(trials) - 1, "fail": 1}, document  # none left running
    assert document["storage"] == mask_url(survivor_url) and document["storage"].endswith("?password=***")
    assert f"study shared on {mask_url(survivor_url)}" in err
    for name, (out_path, err_path) in logs.items():
        text = out_path.read_text() + err_path.read_text()
        assert not leaked(text), (name, leaked(text))
    assert not leaked(json.dumps(document))

    # the pages' queries read the same study through PostgreSQL
    [row] = [r for r in tune.list_studies(victim_url) if r["study"] == "shared"]
    assert row["n_trials"] == len(trials) and row["arch"] == "gru" and row["best_value"] == document["best_value"]
    frame = tune.trials_frame("shared", survivor_url)
    assert sorted(frame["number"]) == list(range(len(trials)))
    assert frame.set_index("number").loc[doomed.number, "state"] == "fail"
    assert set(frame["worker"]) == set(per_worker)
