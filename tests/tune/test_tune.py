"""Optuna studies: the search space, workers sharing one study, failed and cancelled trials, "Train best", the
dashboard server, the Tune page, and passwords kept out of sight. Tiny models (fixed tiny sizes), --limit slices."""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest
from conftest import ROOT, page_file

from goemo_core import tune
from goemo_core.errors import InvalidConfig, MissingResource
from goemo_core.settings import mask_text, mask_url
from goemo_core.tune.queries import rounded_trials

TINY = {"embedding_dim": 8, "hidden_size": 8, "num_layers": 1, "head_layers": 1, "head_units": 8}
LIMIT = 200
SECRET = "s3cr3t-pw"
PG_URL = f"postgresql://alice:{SECRET}@127.0.0.1:1/optuna"
ODD = "p@ss:w0rd-XyZ"  # a raw @ and : inside: a password regex that stops at the first @ shows "ss:w0rd-XyZ"
NOTHING_THERE = "postgresql+psycopg://alice@127.0.0.1:1/optuna"  # port 1: refused at once
PASSWORD_FORMS = {  # every way a storage URL can carry a secret
    "user:password@": PG_URL,
    "raw @ and : in the password": f"postgresql+psycopg://alice:{ODD}@127.0.0.1:1/optuna",
    "percent-encoded @ and :": f"postgresql+psycopg://alice:{quote(ODD, safe='')}@127.0.0.1:1/optuna",
    "?password=": f"{NOTHING_THERE}?password={SECRET}",
    "&PASSWORD=": f"{NOTHING_THERE}?sslmode=disable&PASSWORD={SECRET}",
    "?password= with a raw @": f"{NOTHING_THERE}?application_name=x&password={ODD}",
    "token=": f"{NOTHING_THERE}?token={SECRET}",
}


def leaked(text: str) -> list[str]:
    """The pieces of a password that show in `text` (none may)."""
    return [piece for piece in (SECRET, ODD, quote(ODD, safe=""), "w0rd-XyZ", "ss:w0rd") if piece in text]


@pytest.fixture(autouse=True)
def small_world(goemo_env, monkeypatch):
    """A storage inside the test's GOEMO_HOME; one torch thread (two workers on two cores must not oversubscribe);
    cached storages and dashboards dropped afterwards."""
    import torch

    from goemo_core.tune.dashboard import stop_dashboards

    monkeypatch.setenv("GOEMO_OPTUNA_STORAGE", f"sqlite:///{goemo_env / 'optuna.db'}")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield goemo_env
    torch.set_num_threads(threads)
    stop_dashboards()
    tune.close_storages()


def tiny_config(**changes) -> tune.TuneConfig:
    values = dict(arch="gru", n_trials=3, limit=LIMIT, epochs=2, pruner="none", fixed=dict(TINY), device="cpu")
    return tune.TuneConfig(**{**values, **changes})


def fake_study(name: str, values: list[float], limit: int | None = None) -> optuna.Study:
    """A study with finished trials and no training: for the page, "Train best" and importances."""
    study = optuna.create_study(study_name=name, storage=tune.open_storage(), direction="maximize")
    distributions = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True),
                     "hidden_size": optuna.distributions.IntDistribution(64, 256)}
    for i, value in enumerate(values):  # parameters wrap around to stay inside their ranges
        params = {"lr": 10 ** (-4 + (i % 7) * 0.3), "hidden_size": 64 + 16 * (i % 12)}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, value=value,
            user_attrs={"val_macro_f1": value / 200, "best_epoch": 1}))
    plan = tune.plan_study(tune.TuneConfig(arch="gru", limit=limit, fixed={"embedding_dim": 16}))
    study.set_user_attr(tune.STUDY_ATTR, plan.to_attr())
    return study


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def http_status(url: str, timeout: float = 10.0) -> int:
    return http_get(url, timeout)[0]


# -- search space ---------------------------------------------------------------------------------------------------
def test_search_space_follows_registry_and_data_choices(pretrained):
    space = tune.base_space("gru", tune.DataChoices(pretrained=None, augment=None))
    assert space["embedding_dim"] == ("int", 64, 256) and space["lr"] == ("logfloat", 1e-5, 1e-2)
    assert "pretrained" not in space and "augment" not in space
    space = tune.base_space("gru")  # GOEMO_PRETRAINED is set by the fixture
    assert space["pretrained"] == ("categorical", [False, True])
    assert "pretrained" not in tune.base_space("transformer")  # always the pretrained encoder
    with_augment = tune.base_space("lstm", tune.DataChoices(pretrained=None, augment="balanced"))
    assert with_augment["augment"] == ("categorical", [False, True])
    augmented = tune.DataChoices(pretrained=None, augment="balanced")
    assert "augment" in tune.plan_study(tune.TuneConfig(arch="lstm"), choices=augmented).search_space
    multi_label = tune.plan_study(tune.TuneConfig(arch="lstm", fixed={"task": "goemotions"}), choices=augmented)
    assert "augment" not in multi_label.search_space  # the augmented splits hold Ekman labels only

    narrowed, fixed = tune.narrow_space(space, {"hidden_size": [64, 96], "optimizer": ["adam"], "num_layers": [2, 2],
                                                "lr": tune.parse_range(space, "lr", "1e-4:1e-3")})
    assert narrowed["hidden_size"] == ("int", 64, 96) and narrowed["lr"] == ("logfloat", 1e-4, 1e-3)
    assert fixed == {"optimizer": "adam", "num_layers": 2}
    assert tune.parse_range(space, "pretrained", "true") == [True]
    with pytest.raises(InvalidConfig):
        tune.narrow_space(space, {"nonsense": [1, 2]})
    with pytest.raises(InvalidConfig):
        tune.narrow_space(space, {"hidden_size": [96, 64]})
    decoded = tune.decode({"pretrained": True, "augment": False}, tune.DataChoices("enc", None))
    assert decoded == {"pretrained": "enc", "augment": None}
    with pytest.raises(MissingResource):
        tune.decode({"augment": True}, tune.DataChoices(None, None))


def test_trial_budget_defaults_keep_the_notebook_budget():
    plan = tune.plan_study(tune.TuneConfig(arch="gru"), choices=tune.DataChoices(None, None))
    # 100 batches per epoch as the notebook; its 300 validation batches of 64 exceeded the split: all of it here
    assert (plan.epochs, plan.batches_per_epoch, plan.val_examples, plan.pruner) == (10, 100, None, "median")
    small = tune.plan_study(tune.TuneConfig(arch="gru", limit=400, batches_per_epoch=0))
    assert small.epochs == tune.SMALL_LIMIT_EPOCHS and small.batches_per_epoch is None
    config = tune.trial_config(plan, {"hidden_size": 70, "optimizer": "rmsprop"}, tune.DataChoices(None, None))
    assert (config.batches_per_epoch, config.val_examples, config.epochs) == (100, None, 10)
    capped = tune.plan_study(tune.TuneConfig(arch="gru", val_examples=500))
    assert tune.trial_config(capped, {}, tune.DataChoices(None, None)).val_examples == 500
    # a study created when the budget counted validation batches of 64 keeps its cap, in examples
    assert tune.plan_study(tune.TuneConfig(arch="gru"), stored={"arch": "gru", "val_batches": 10}).val_examples == 640
    assert config.params["hidden_size"] == 70 and config.optimizer == "rmsprop"
    # a worker joining a study without settings of its own takes the study's
    joined = tune.plan_study(tune.TuneConfig(arch="gru"), stored=small.to_attr())
    assert joined.limit == 400 and joined.batches_per_epoch is None
    with pytest.raises(InvalidConfig):
        tune.plan_study(tune.TuneConfig(arch="lstm", study="s"), stored=small.to_attr())
    assert isinstance(tune.make_pruner("hyperband", 5), optuna.pruners.HyperbandPruner)


# -- running studies ---------------------------------------------------------------------------------------------------
def test_failed_trial_is_recorded_and_the_study_goes_on(monkeypatch):
    import goemo_core.tune.study as study_module

    real_build, calls = study_module.build_model, []

    def flaky_build(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_build(*args, **kwargs)

    monkeypatch.setattr(study_module, "build_model", flaky_build)
    records: list[dict] = []
    summary = tune.run_study(tiny_config(study="flaky"), on_trial=records.append)
    assert summary["states"] == {"fail": 1, "complete": 2} and summary["n_trials"] == 3
    assert [r["number"] for r in records] == [0, 1, 2] and records[0]["state"] == "fail"
    study = tune.load_study("flaky")
    first = study.trials[0]
    assert first.state == optuna.trial.TrialState.FAIL and "out of memory" in first.user_attrs["error"]
    done = study.trials[1]
    for key in ("val_accuracy", "val_macro_f1", "best_epoch", "seconds", "parameters"):
        assert done.user_attrs[key] is not None, key
    assert summary["best_value"] == max(t.value for t in study.trials[1:])
    assert set(summary["best_params"]) == {"dropout", "head_dropout", "lr", "optimizer"}
    assert not (Path(os.environ["GOEMO_HOME"]) / "runs").exists() or not any(
        (Path(os.environ["GOEMO_HOME"]) / "runs").iterdir())  # tuning writes no run directory


def test_missing_data_stops_the_study_with_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GOEMO_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MissingResource):
        tune.run_study(tiny_config(study="nodata", n_trials=5))
    assert tune.study_summary(tune.load_study("nodata"))["n_trials"] == 1  # stopped after the first trial


def test_tune_job_reports_trials_and_cancel_stops_the_study(fresh_manager):
    manager = fresh_manager()
    job_id = manager.submit("tune", tiny_config(study="job", n_trials=60, epochs=3), title="tune")
    deadline = time.time() + 90
    job = manager.get(job_id)
    while len(job.history) < 2 and not job.done and time.time() < deadline:
        time.sleep(0.05)
    assert job.progress_text.startswith("trial ") and " of 60" in job.progress_text
    manager.cancel(job_id)
    job = manager.wait(job_id, timeout=60)
    assert job.status == "cancelled", (job.error, job.traceback)
    assert job.result["status"] == "cancelled" and job.result["study"] == "job"
    assert {"number", "state", "value"} <= set(job.history[0])
    states = job.result["states"]
    assert sum(states.values()) == job.result["n_trials"] < 60
    assert states.get("running", 0) == 0


@pytest.mark.slow
def test_two_workers_share_one_study_without_losing_trials(tmp_path):
    """SQLite (the default storage, busy timeout raised by the factory) and a journal file: both must serialise
    trial creation across processes. Each worker runs 3 trials; the study ends with exactly 6, numbered 0..5."""
    for kind, url in (("sqlite", f"sqlite:///{tmp_path / 'shared.db'}"),
                      ("journal", f"journal:///{tmp_path / 'shared.log'}")):
        command = [sys.executable, "-m", "goemo_core", "tune", "--arch", "gru", "--n-trials", "3", "--limit",
                   str(LIMIT), "--epochs", "2", "--pruner", "none", "--study", "shared", "--storage", url,
                   "--device", "cpu", "--json", *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(2)]
        outputs = [w.communicate(timeout=150) for w in workers]
        for worker, (out, err) in zip(workers, outputs):
            assert worker.returncode == 0, err[-2000:]
        documents = [json.loads(out) for out, _ in outputs]
        for document in documents:
            assert sum(document["states"].values()) == document["n_trials"], document
            assert document["study"] == "shared" and isinstance(document["best_params"], dict)
        assert max(d["n_trials"] for d in documents) == 6, (kind, documents)

        study = optuna.load_study(study_name="shared", storage=tune.open_storage(url))
        trials = study.get_trials(deepcopy=False)
        assert sorted(t.number for t in trials) == list(range(6)), kind
        assert all(t.state.is_finished() for t in trials), kind
        per_worker = collections.Counter(t.user_attrs["worker"] for t in trials)
        assert sorted(per_worker.values()) == [3, 3], (kind, per_worker)
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 6, kind  # no duplicated draws


def test_cli_rejects_bad_arguments(capsys):
    from goemo_core.cli import main

    assert main(["tune", "--arch", "nope", "--n-trials", "1"]) == 2
    assert main(["tune", "--arch", "gru", "--n-trials", "1", "--range", "hidden_size=9"]) == 2
    assert "LOW:HIGH" in capsys.readouterr().err


# -- reading studies, "Train best" ------------------------------------------------------------------------------------
def test_study_queries_and_best_train_config():
    fake_study("fake", [40.0, 55.0, 47.0, 52.0], limit=300)
    [row] = tune.list_studies()
    assert (row["study"], row["arch"], row["n_trials"], row["best_value"]) == ("fake", "gru", 4, 55.0)
    frame = tune.trials_frame("fake")
    assert list(frame.columns[:3]) == ["number", "state", "value"] and {"lr", "hidden_size"} <= set(frame.columns)
    history = tune.history_frame(frame)
    assert list(history["best_so_far"]) == [40.0, 55.0, 55.0, 55.0]
    importances = tune.param_importances("fake")
    assert set(importances) <= {"lr", "hidden_size"} and importances
    config = tune.best_train_config("fake")
    from goemo_core.training.config import TrainConfig, make_config

    assert isinstance(config, TrainConfig)  # validated: what the "train" job handler takes
    assert config.epochs == make_config("gru").epochs  # the registry recipe, not the trial budget
    assert config.batches_per_epoch is None and config.val_examples is None and config.limit is None
    assert config.params["hidden_size"] == 64 + 16 and config.params["embedding_dim"] == 16
    assert tune.best_train_config("fake", keep_limit=True).limit == 300
    assert tune.resume_config("fake", n_trials=2).study == "fake"


def test_few_trials_give_no_importances():
    fake_study("few", [40.0, 41.0])
    assert tune.param_importances("few") == {}
    with pytest.raises(InvalidConfig):
        tune.load_study("missing")


def test_every_password_form_is_masked():
    query = f"{NOTHING_THERE}?password={SECRET}&sslmode=disable"
    assert mask_url(query) == f"{NOTHING_THERE}?password=***&sslmode=disable"  # the other parameters kept
    assert mask_url(PASSWORD_FORMS["percent-encoded @ and :"]) == "postgresql+psycopg://alice:***@127.0.0.1:1/optuna"
    for form, url in PASSWORD_FORMS.items():
        assert not leaked(mask_url(url)) and "***" in mask_url(url), (form, mask_url(url))
        assert "127.0.0.1" in mask_url(url), form  # the rest stays readable
        text = mask_text(f"could not connect to {url}: 'host=127.0.0.1 password={SECRET}' refused", url)
        assert not leaked(text) and "could not connect" in text, (form, text)
    for plain in ("sqlite:////tmp/optuna.db", "journal:///tmp/study.log", "postgresql+psycopg://bob@db:5432/optuna"):
        assert mask_url(plain) == plain


def test_tune_json_and_logs_never_show_a_password(monkeypatch, capsys):
    """Every form through the CLI: the storage of the JSON document and the log lines are masked. The URLs lead
    nowhere, so the worker is handed the test's SQLite storage instead."""
    import goemo_core.tune.plan as plan_module
    from goemo_core.cli import main

    real = tune.open_storage()
    monkeypatch.setattr(plan_module, "open_storage", lambda url=None: real)
    tiny = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    for form, url in PASSWORD_FORMS.items():
        code = main(["tune", "--arch", "gru", "--n-trials", "1", "--limit", str(LIMIT), "--epochs", "1",
                     "--batches-per-epoch", "2", "--val-examples", "64", "--pruner", "none", "--study", "masked",
                     "--storage", url, "--device", "cpu", "--json", *tiny])
        out, err = capsys.readouterr()
        assert code == 0, (form, err[-1000:])
        document = json.loads(out)
        assert document["storage"] == mask_url(url) and "***" in document["storage"], form
        assert "study masked on " + mask_url(url) in err, (form, err)  # the log line names the storage, masked
        assert not leaked(out) and not leaked(err), (form, leaked(out + err))
    assert document["n_trials"] == len(PASSWORD_FORMS)


def test_a_trial_error_quoting_the_storage_is_masked(monkeypatch):
    """Optuna's own warning about a failed trial (message and traceback), our log line and the stored error."""
    import io
    import logging

    import goemo_core.tune.plan as plan_module
    import goemo_core.tune.study as study_module

    url = PASSWORD_FORMS["?password= with a raw @"]
    real = tune.open_storage()
    monkeypatch.setattr(plan_module, "open_storage", lambda storage=None: real)

    def unreachable(*args, **kwargs):
        raise RuntimeError(f"cannot reach {url} (password={ODD})")

    monkeypatch.setattr(study_module, "build_model", unreachable)
    stream, lines = io.StringIO(), []
    handler = logging.StreamHandler(stream)
    logging.getLogger("optuna").addHandler(handler)
    try:
        summary = tune.run_study(tiny_config(study="quoting", n_trials=1, storage=url), log=lines.append)
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    assert summary["states"] == {"fail": 1}
    warned = stream.getvalue()
    assert "Trial 0 failed" in warned and "Traceback" in warned and "cannot reach" in warned, warned
    [trial] = tune.load_study("quoting").trials
    for text in (warned, "\n".join(lines), trial.user_attrs["error"]):
        assert not leaked(text) and "***" in text, text


def test_unreachable_server_errors_never_show_a_password(capsys):
    from goemo_core.cli import main

    for form, url in PASSWORD_FORMS.items():
        for command in (["tune", "--arch", "gru", "--n-trials", "1", "--storage", url, "--json"],
                        ["dashboard", "--port", "0", "--storage", url, "--json"]):
            code = main(command)
            out, err = capsys.readouterr()
            assert code in (2, 3) and out == "", (form, command[0], out, err)  # 2: a raw @ makes no URL
            assert err.startswith("error: ") and err.count("\n") == 1, (form, err)  # one line
            assert "127.0.0.1" in err and not leaked(err), (form, err)
        with pytest.raises((MissingResource, InvalidConfig)) as error:
            tune.open_storage(url)
        assert not leaked(str(error.value)) and "***" in str(error.value), (form, str(error.value))


def test_heartbeat_comes_from_the_environment(monkeypatch):
    from goemo_core.tune.storage import GRACE_S, HEARTBEAT_S, heartbeat_settings

    assert heartbeat_settings() == (HEARTBEAT_S, GRACE_S)
    monkeypatch.setenv("GOEMO_OPTUNA_HEARTBEAT_S", "2")
    monkeypatch.setenv("GOEMO_OPTUNA_GRACE_S", "5")
    storage = tune.open_storage()
    assert (storage.heartbeat_interval, storage.grace_period) == (2, 5)
    for grace in ("soon", "0", "2"):  # not a number, not positive, not longer than the interval
        monkeypatch.setenv("GOEMO_OPTUNA_GRACE_S", grace)
        with pytest.raises(InvalidConfig, match="GOEMO_OPTUNA_GRACE_S"):
            heartbeat_settings()


def test_a_lost_database_is_one_masked_line(monkeypatch):
    import sqlalchemy.exc

    import goemo_core.tune.study as study_module

    def gone(*args, **kwargs):
        driver = ConnectionError(f"server closed the connection (dsn: {PG_URL} password={SECRET})\nretry later")
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, driver)

    monkeypatch.setattr(study_module, "open_study", gone)
    with pytest.raises(MissingResource, match="Lost the Optuna storage") as error:
        tune.run_study(tiny_config(study="gone", storage=PG_URL))
    assert "\n" not in str(error.value) and not leaked(str(error.value)) and "alice:***@" in str(error.value)


def test_password_is_masked_everywhere(monkeypatch):
    assert mask_url(PG_URL) == "postgresql://alice:***@127.0.0.1:1/optuna"
    with pytest.raises(MissingResource) as error:
        tune.open_storage(PG_URL)
    assert SECRET not in str(error.value) and "alice:***@" in str(error.value)
    for url in (PG_URL, PASSWORD_FORMS["&PASSWORD="], PASSWORD_FORMS["raw @ and : in the password"]):
        monkeypatch.setenv("GOEMO_OPTUNA_STORAGE", url)
        at = page().run()
        assert not at.exception
        shown = " ".join(str(e.value) for kind in ("markdown", "caption", "error") for e in getattr(at, kind))
        assert "***" in shown and SECRET not in shown and not leaked(shown), (url, shown)
        assert any(mask_url(url) in c.value for c in at.caption)


# -- dashboard ---------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_dashboard_cli_serves_http_200_on_localhost(tmp_path):
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    tune.open_storage(url)  # create the tables
    process = subprocess.Popen([sys.executable, "-m", "goemo_core", "dashboard", "--port", "0", "--storage", url],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the dashboard printed no URL within 60 s"
        base = process.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        assert http_status(f"{base}/dashboard") == 200
        assert http_status(f"{base}/api/studies") == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_ensure_dashboard_starts_once_per_process():
    from goemo_core.tune.dashboard import ensure_dashboard, study_url

    study = fake_study("dash", [50.0])
    base = ensure_dashboard()
    assert base.startswith("http://127.0.0.1:") and ensure_dashboard() == base
    assert http_status(f"{base}/api/studies") == 200
    assert http_status(study_url(base, study._study_id)) == 200


def test_the_dashboard_keeps_its_port_across_restarts_while_it_is_free():
    import socket

    from goemo_core.tune import storage_url
    from goemo_core.tune.dashboard import ensure_dashboard, stable_port, stop_dashboards

    fake_study("dash", [50.0])
    first = ensure_dashboard()
    stop_dashboards()  # as a server restart does
    assert ensure_dashboard() == first  # a bookmarked link keeps working
    assert first.endswith(f":{stable_port(storage_url())}")
    stop_dashboards()
    with socket.socket() as holder:  # another program now holds the port: any free one will do
        holder.bind(("127.0.0.1", stable_port(storage_url())))
        holder.listen()
        elsewhere = ensure_dashboard()
        assert elsewhere != first and http_status(f"{elsewhere}/api/studies") == 200


def test_studies_name_their_metric_for_the_dashboard():
    from goemo_core.tune.dashboard import make_dashboard_server
    from goemo_core.tune.plan import METRIC_NAME, open_study

    study, _ = open_study(tiny_config(study="named"))
    assert study.metric_names == [METRIC_NAME] == ["validation accuracy (%)"]
    open_study(tiny_config(study="named"))  # a second worker joins: nothing changes
    assert tune.load_study("named").metric_names == [METRIC_NAME]
    own = optuna.create_study(study_name="own", storage=tune.open_storage(), direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        own.set_metric_names(["accuracy on my split"])
    open_study(tiny_config(study="own"))
    assert tune.load_study("own").metric_names == ["accuracy on my split"]  # a name already given is kept

    server = make_dashboard_server()  # what the dashboard's study page reads (instead of "Objective 0")
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    server.thread = thread
    thread.start()
    try:
        status, body = http_get(f"{server.url}/api/studies/{study._study_id}")
        assert status == 200 and json.loads(body)["objective_names"] == [METRIC_NAME]
        status, body = http_get(f"{server.url}/api/studies/{own._study_id}")
        assert json.loads(body)["objective_names"] == ["accuracy on my split"]
    finally:
        server.stop()


# -- the Tune page -----------------------------------------------------------------------------------------------------
def page():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(page_file("tune.py")), default_timeout=60)


def test_page_renders_without_any_study(fresh_manager):
    at = page().run()
    assert not at.exception
    assert any("No study" in c.value for c in at.caption)
    assert at.button(key="tune_start") is not None


def test_page_shows_study_and_dashboard_link(fresh_manager):
    study = fake_study("page", [40.0, 55.0, 47.0, 52.0], limit=LIMIT)
    at = page().run()
    assert not at.exception
    assert at.selectbox(key="tune_study").value == "page"
    assert {m.label: m.value for m in at.metric}["Trials"] == "4"
    # one click: the dashboard is already running and the only link opens the selected study
    links = [e.proto.url for e in at.get("link_button")]
    assert len(links) == 1 and "127.0.0.1" in links[0]
    assert links[0].endswith(f"/dashboard/studies/{study._study_id}")
    assert http_status(links[0]) == 200
    assert "Open dashboard" not in [b.label for b in at.button]  # no button to press first
    assert any("127.0.0.1" in c.value for c in at.caption)

    at.checkbox(key="tune_keep_limit").check().run()
    at.button(key="tune_train_best").click().run()
    assert not at.exception
    manager = fresh_manager()
    [job] = manager.jobs("train")
    config = job.config.config
    assert config.arch == "gru" and config.limit == LIMIT and config.batches_per_epoch is None
    assert job.config.label.name == f"best of {study.study_name}" and study.study_name in job.config.label.tags
    manager.cancel(job.id)
    manager.wait(job.id, timeout=60)


def test_page_launches_a_tune_job(fresh_manager):
    at = page().run()
    at.selectbox(key="tune_arch").set_value("gru").run()
    at.number_input(key="tune_trials").set_value(1)
    at.number_input(key="tune_limit").set_value(LIMIT)
    at.number_input(key="tune_epochs").set_value(1)
    at.slider(key="tune_space_gru_hidden_size").set_value((64, 64))
    at.button(key="tune_start").click().run()
    assert not at.exception, at.exception
    manager = fresh_manager()
    [job] = manager.jobs("tune")
    assert job.config.space == {"hidden_size": [64, 64]} and job.config.study.startswith("gru-")
    manager.cancel(job.id)
    manager.wait(job.id, timeout=60)


def test_page_rounds_the_trials_table_and_warns_about_few_trials(fresh_manager):
    fake_study("rounded", [55.123456, 47.98765, 52.6, 40.0])
    frame = tune.trials_frame("rounded")
    assert frame["value"].iloc[0] == 55.123456  # the query keeps full precision; only the table is rounded
    table = rounded_trials(frame)
    assert list(table["value"]) == [55.12, 47.99, 52.6, 40.0]
    assert list(table["val_macro_f1"]) == [0.276, 0.24, 0.263, 0.2]
    assert list(table["lr"]) == [0.0001, 0.0001995, 0.0003981, 0.0007943]  # 4 significant digits
    assert list(table["hidden_size"]) == [64, 80, 96, 112] and list(table["best_epoch"]) == [1, 1, 1, 1]
    assert list(rounded_trials(frame.assign(duration_s=[12.345, 0.04, 61.96, None]))["duration_s"].fillna(-1)) == [
        12.3, 0.0, 62.0, -1]

    at = page().run()
    assert not at.exception
    [shown] = [d.value for d in at.dataframe if "number" in d.value.columns]
    assert list(shown["value"]) == list(table["value"]) and list(shown["lr"]) == list(table["lr"])
    notes = " ".join(c.value for c in at.caption)
    assert "4 completed trials" in notes and "mostly noise" in notes

    fake_study("plenty", [40.0 + (7 * i) % 13 for i in range(10)])
    at.run()  # the new study joins the list
    at.selectbox(key="tune_study").set_value("plenty").run()
    assert not at.exception
    assert [c for c in at.get("vega_lite_chart") if "importances" in c.proto.spec]  # shown, without the warning
    assert "mostly noise" not in " ".join(c.value for c in at.caption)


def test_a_study_over_several_max_lengths_keeps_few_data_sets_sharing_one_embedding(monkeypatch):
    """An RWKV study searching the max length: the worker's data cache stays at DATA_CACHE_SIZE entries, and
    entries that differ only in max length hold the same embedding vectors (one tensor, not a copy each)."""
    import torch

    import goemo_core.tune.study as study_module
    from goemo_core.models.common import EmbeddingInit

    real_prepare, prepared, sizes = study_module.prepare_data, [], []

    def prepare_with_vectors(cfg, settings=None):  # stands in for a pretrained encoder's embeddings
        data = real_prepare(cfg, settings)
        vectors = torch.randn(data.tokenizer.get_vocab_size(), 8)
        data = study_module.replace(data, embedding_init=EmbeddingInit(weight=vectors, source="fake"))
        prepared.append(cfg.max_length)
        return data

    monkeypatch.setattr(study_module, "prepare_data", prepare_with_vectors)
    config = tiny_config(arch="rwkv", study="lengths", n_trials=5, epochs=1, seed=3,
                         fixed={"embedding_dim": 16, "hidden_size": 16, "head_units": 16, "num_layers": 1},
                         space={"max_length": (30, 60)})
    runner = study_module.StudyRunner(config, on_trial=lambda record: sizes.append(len(runner.data)))
    runner.run()
    assert len(set(prepared)) >= 3, prepared  # several max lengths were tried
    assert max(sizes) <= study_module.DATA_CACHE_SIZE and len(runner.data) <= study_module.DATA_CACHE_SIZE
    vectors = {id(data.embedding_init) for data in runner.data.values()}
    assert len(vectors) == 1  # shared between the entries


def test_a_multi_label_study_maximises_validation_macro_f1():
    summary = tune.run_study(tiny_config(study="sentiment", n_trials=1, epochs=1,
                                         fixed={**TINY, "task": "sentiment"}))
    study = optuna.load_study(study_name="sentiment", storage=tune.open_storage(None))
    assert study.metric_names == ["validation macro-F1"] and summary["objective"] == "validation macro-F1"
    trial = study.trials[0]
    assert trial.value == trial.user_attrs["val_macro_f1"] and 0 <= trial.value <= 1
    assert tune.trial_config(tune.plan_study(tiny_config(fixed={"task": "goemotions"})), {},
                             tune.DataChoices(None, None)).monitor == "val_macro_f1"


def test_the_median_pruner_spares_a_trials_first_epoch_and_may_prune_from_its_second():
    """Steps are epochs counted from 1: a poor trial survives its first report and can be pruned at its second."""
    study = optuna.create_study(direction="maximize", pruner=tune.make_pruner("median", epochs=10))
    for _ in range(5):
        good = study.ask()
        for epoch in (1, 2, 3):
            good.report(60.0, epoch)
        study.tell(good, 60.0)
    poor = study.ask()
    poor.report(10.0, 1)
    assert not poor.should_prune()
    poor.report(10.0, 2)
    assert poor.should_prune()
