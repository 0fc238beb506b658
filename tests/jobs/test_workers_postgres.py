"""The benchmark grid beyond one machine, end to end: a real PostgreSQL holds the grid (2 architectures × 3 seeds,
tiny, one epoch), a real `mlflow server --serve-artifacts` on loopback gathers the runs, and three `goemo worker`
processes with GOEMO_HOMEs of their own stand for three machines. One worker is SIGKILLed in the middle of a cell:
its trial is failed by its heartbeat and the cell is retried and completed by another worker, so every cell ends
with exactly one completed run. A fourth GOEMO_HOME (a laptop) then pulls the six runs from MLflow: the same metrics
and weights, the grid's table in `runs summary`, and nothing more on a second pull."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
from conftest import ROOT
from servers import running_mlflow, running_postgres

from goemo_core import tune
from goemo_core.bench.grid import cell_rows, open_grid
from goemo_core.cli import main
from goemo_core.runs.manifest import file_digest
from goemo_core.runs.store import RunStore
from goemo_core.tune.storage import GRACE_ENV, HEARTBEAT_ENV

pytestmark = pytest.mark.slow

USER, PASSWORD, DATABASE = "goemo", "grid-s3cret", "grid"
TINY = ["--set", "hidden_size=16", "--set", "embedding_dim=16", "--set", "head_units=16", "--set", "pretrained=none"]
WORKERS_S = 420  # the three workers' whole grid on a loaded 2-core machine (a few minutes; seconds where idle)


def wait_for(condition, timeout: float, what: str, processes=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        for process in processes:
            assert process.poll() is None, f"a worker exited early ({process.returncode}) while waiting for {what}"
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_grid_on_postgres_trained_by_three_workers_one_killed_gathered_through_mlflow(tmp_path, monkeypatch,
                                                                                        capsys):
    monkeypatch.setenv(HEARTBEAT_ENV, "1")
    monkeypatch.setenv(GRACE_ENV, "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with running_postgres(USER, PASSWORD, DATABASE) as (port, _), running_mlflow(tmp_path / "mlflow") as mlflow:
        storage = f"postgresql+psycopg://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/{DATABASE}"
        monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", mlflow)
        try:
            workers, homes = run_the_grid(tmp_path, storage, capsys)
            pull_the_runs(tmp_path, workers, homes, capsys, monkeypatch)
        finally:
            tune.close_storages()


def run_the_grid(tmp_path: Path, storage: str, capsys):
    assert main(["bench", "accuracy", "--archs", "gru", "lstm", "--seeds", "3", "--limit", "200", "--epochs", "1",
                 *TINY, "--study", "grid", "--storage", storage, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 6
    study = open_grid("grid", storage, create=False)

    homes = [tmp_path / f"machine-{i}" for i in range(3)]
    logs = [(tmp_path / f"worker-{i}.out", tmp_path / f"worker-{i}.err") for i in range(3)]

    def start(i: int) -> subprocess.Popen:
        with logs[i][0].open("w") as out, logs[i][1].open("w") as err:
            return subprocess.Popen([sys.executable, "-m", "goemo_core", "worker", "--storage", storage, "--study",
                                     "grid", "--gpus", "none", "--exit-when-idle", "--poll", "0.5", "--json"],
                                    cwd=ROOT, env={**os.environ, "GOEMO_HOME": str(homes[i])}, stdout=out,
                                    stderr=err)

    victim = start(0)
    victim_id = f"{socket.gethostname()}:{victim.pid}"
    try:
        def victims_cell():  # running, with its run folder made: in the middle of the cell
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                if trial.user_attrs.get("worker") == victim_id and trial.user_attrs.get("run_id"):
                    return trial
            return None

        doomed = wait_for(victims_cell, 240, "the first worker's first cell", [victim])
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert study._storage.get_trial(doomed._trial_id).state == optuna.trial.TrialState.RUNNING
        survivors = [start(1), start(2)]
        for survivor in survivors:
            survivor.wait(timeout=WORKERS_S)
    finally:
        for process in [victim, *locals().get("survivors", [])]:
            if process.poll() is None:
                process.kill()
                process.wait()
    documents = []
    for survivor, (out, err) in zip(survivors, logs[1:]):
        assert survivor.returncode == 0, err.read_text()[-3000:]
        documents.append(json.loads(out.read_text()))  # stdout holds the one JSON document, nothing of MLflow's
    assert sum(d["done"] for d in documents) == 6 and sum(d["failed"] + d["released"] for d in documents) == 0
    assert all(d["stopped"] == "idle" for d in documents)

    # the study: every cell done; the killed trial failed by its heartbeat, its cell retried once and completed
    trials = study.get_trials(deepcopy=False)
    assert study._storage.get_trial(doomed._trial_id).state == optuna.trial.TrialState.FAIL
    assert study._storage.get_trial(doomed._trial_id).user_attrs["error"] is None  # no error: it stopped beating
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == doomed.number]
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.user_attrs["worker"] != victim_id
    assert retry.user_attrs["cell"] == doomed.user_attrs["cell"]
    rows = cell_rows(study)
    assert len(rows) == 6 and {r["state"] for r in rows} == {"done"}
    assert sorted(r["attempts"] for r in rows) == [1, 1, 1, 1, 1, 2]
    assert collections.Counter(t.state.name for t in trials) == {"COMPLETE": 6, "FAIL": 1}

    # every cell has exactly one completed run, in the home of the worker that trained it
    completed = collections.defaultdict(list)
    for home in homes:
        for run in RunStore(home / "runs").list():
            if run.status == "completed":
                completed[run.config["arch"], run.config["seed"]].append(run)
    assert {cell: len(runs) for cell, runs in completed.items()} == {
        (arch, seed): 1 for arch in ("gru", "lstm") for seed in (211, 212, 213)}
    assert {r["run_id"] for r in rows} == {runs[0].run_id for runs in completed.values()}
    killed_run = RunStore(homes[0] / "runs").get(doomed.user_attrs["run_id"])
    assert killed_run.status in ("running", "interrupted")  # cut off: never completed, never pulled
    return {cell: runs[0] for cell, runs in completed.items()}, homes


def pull_the_runs(tmp_path: Path, trained: dict, homes, capsys, monkeypatch):
    monkeypatch.setenv("GOEMO_HOME", str(tmp_path / "laptop"))
    assert main(["runs", "pull", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(r["run_id"] for r in report["imported"]) == sorted(run.run_id for run in trained.values())
    assert report["refused"] == [] and report["skipped"] == []  # the killed cell's MLflow run never finished
    store = RunStore()
    for run in trained.values():
        pulled = store.get(run.run_id)
        assert pulled.status == "completed" and pulled.metrics == run.metrics
        for name in ("metrics.json", "model.safetensors", "probabilities.safetensors"):
            assert file_digest(pulled.path / name) == file_digest(run.path / name)
        assert pulled.trained_on == (socket.gethostname(), "CPU") and pulled.origin["source"] == "mlflow"

    assert main(["runs", "summary", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted((r["arch"], r["runs"], tuple(r["seeds"])) for r in summary) == [
        ("gru", 3, (211, 212, 213)), ("lstm", 3, (211, 212, 213))]
    for row in summary:
        runs = [trained[row["arch"], seed] for seed in (211, 212, 213)]
        assert sorted(row["run_ids"]) == sorted(run.run_id for run in runs)
        validation = [run.metrics["validation"]["accuracy"] for run in runs]
        assert row["val_accuracy_mean"] == pytest.approx(sum(validation) / 3)  # what the recipe is chosen by
        assert row["limit"] == 200 and row["vs_best"] == "limited data"

    assert main(["runs", "pull", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["imported"] == [] and len(again["skipped"]) == 6
    assert len(store.list()) == 6
