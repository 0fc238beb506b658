"""The MLflow mirror: a run mirrored as it trains (parameters, epochs at their step, test metrics, tags,
artifacts), read back with MlflowClient from a SQLite store and from a real `mlflow server`; `runs push` keeps one
MLflow run per run; a server that dies mid-run costs one warning, never the run."""


import pytest
from conftest import fake_attack, fake_run, unavailable
from servers import free_port, mlflow_process

from goemo_core.cli import main
from goemo_core.integrations.mlflow_mirror import RUN_ID_TAG, final_metrics, flatten
from goemo_core.runs.folder import RunLabel
from goemo_core.runs.store import RunStore
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

TINY = {"limit": 200, "epochs": 2, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None, "patience": 5}


@pytest.fixture(autouse=True)
def mlflow_installed():
    try:
        import mlflow  # noqa: F401
    except ImportError:
        unavailable("mlflow is not installed (requirements.txt)")


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def mirrored(uri, run_id):
    """The MLflow runs that mirror our run `run_id` (any experiment)."""
    mlflow = client(uri)
    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    return mlflow.search_runs(experiments, filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'")


def assert_mirrors(uri, run, epochs=2):
    found = mirrored(uri, run.run_id)
    assert len(found) == 1
    mlflow_run = found[0]
    params, tags, metrics = mlflow_run.data.params, mlflow_run.data.tags, mlflow_run.data.metrics
    assert params["arch"] == "gru" and params["params.hidden_size"] == "16" and params["limit"] == "200"
    assert tags["arch"] == "gru" and tags["seed"] == str(run.config["seed"]) and tags["task"] == "ekman"
    history = client(uri).get_metric_history(mlflow_run.info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == list(range(1, epochs + 1))
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [h["val_accuracy"] for h in run.history]
    assert metrics["test_accuracy"] == pytest.approx(run.metrics["accuracy"])
    assert metrics["test_macro_f1"] == pytest.approx(run.metrics["macro_f1"])
    assert mlflow_run.info.status == "FINISHED"
    artifacts = {a.path for a in client(uri).list_artifacts(mlflow_run.info.run_id)}
    assert {"config.json", "metrics.json", "confusion_matrix.csv"} <= artifacts
    return mlflow_run


def test_flatten_and_final_metrics():
    assert flatten({"arch": "gru", "params": {"hidden_size": 16, "pooling": "last"}, "milestones": [10, 50],
                    "limit": None}) == {"arch": "gru", "params.hidden_size": "16", "params.pooling": "last",
                                        "milestones": "[10, 50]", "limit": "null"}
    numbers = final_metrics({"accuracy": 61.5, "macro_f1": 0.5, "per_class": {"joy": {"precision": 0.7, "recall": 0.8,
                                                                                     "f1": 0.75, "support": 9}},
                             "cost": {"cpu_latency_ms": 2.0, "onnx": {"max_abs_diff": 1e-7, "verified": True}}})
    assert numbers == {"test_accuracy": 61.5, "test_macro_f1": 0.5, "test_precision_joy": 0.7,
                       "test_recall_joy": 0.8, "test_f1_joy": 0.75, "cost_cpu_latency_ms": 2.0,
                       "cost_onnx_max_abs_diff": 1e-7}


def test_run_mirrored_as_it_trains_and_pushed_again_into_the_same_mlflow_run(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", uri)
    messages = []
    run = train_run(make_config("gru", TINY), log=messages.append, label=RunLabel("tiny", ["a", "b"], "a note")).run
    assert any(m.startswith("mirroring to MLflow") for m in messages)
    assert not any("warning" in m for m in messages)
    first = assert_mirrors(uri, run)
    assert first.data.tags["name"] == "tiny" and first.data.tags["tags"] == "a, b"
    assert first.data.tags["mlflow.note.content"] == "a note"
    assert (tmp_path / "mlartifacts").is_dir()  # beside the database, not in the working directory

    other = fake_run(RunStore(), "lstm", 3, 55.0)
    assert main(["runs", "push", run.run_id, other.run_id, "--json"]) == 0
    assert main(["runs", "push", "--all"]) == 0
    capsys.readouterr()
    again = assert_mirrors(uri, run)
    assert again.info.run_id == first.info.run_id  # pushed twice: still one MLflow run, no epoch twice
    assert len(mirrored(uri, other.run_id)) == 1


def test_push_refuses_without_a_uri_and_says_so_when_unreachable(monkeypatch, capsys):
    run = fake_run(RunStore(), "gru", 1, 50.0)
    monkeypatch.delenv("GOEMO_MLFLOW_TRACKING_URI", raising=False)
    assert main(["runs", "push", run.run_id]) == 3
    assert "GOEMO_MLFLOW_TRACKING_URI" in capsys.readouterr().err
    assert main(["runs", "push"]) == 2
    capsys.readouterr()
    assert main(["runs", "push", run.run_id, "--tracking-uri", f"http://127.0.0.1:{free_port()}"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did not take run" in err


def test_an_attack_is_mirrored_with_its_figures_and_files_and_a_dead_server_costs_one_warning(tmp_path):
    from goemo_core.integrations.mlflow_mirror import mirror_again

    run = fake_run(RunStore(), "gru", 1, 50.0)
    figures = fake_attack(run, "pwws", failed=3, skipped=0, n=4)["figures"]
    uri, messages = f"sqlite:///{tmp_path / 'mlflow.db'}", []
    mirror_again(run, messages.append, uri)
    mlflow_run = mirrored(uri, run.run_id)[0]
    assert mlflow_run.data.metrics["attack_pwws_accuracy_under_attack"] == figures["accuracy_under_attack"] == 75.0
    assert mlflow_run.data.metrics["attack_pwws_avg_queries"] == 12.0
    files = {a.path for a in client(uri).list_artifacts(mlflow_run.info.run_id, "attacks")}
    assert files == {"attacks/pwws.json", "attacks/pwws-examples.jsonl"} and messages[0].startswith("mirrored")
    mirror_again(run, messages.append, f"http://127.0.0.1:{free_port()}")
    assert len(messages) == 2 and messages[1].startswith("warning: ") and "runs push" in messages[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """`mlflow server` on a free loopback port with a SQLite backend in a temporary folder: (URL, process)."""
    with mlflow_process(tmp_path / "mlflow") as server:
        yield server


@pytest.mark.slow
def test_run_mirrored_to_a_real_server(mlflow_server, monkeypatch):
    url, _ = mlflow_server
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", url)
    run = train_run(make_config("gru", TINY)).run
    assert run.status == "completed"
    assert_mirrors(url, run)


@pytest.mark.slow
def test_server_stopped_mid_run_costs_one_warning_not_the_run(mlflow_server, monkeypatch):
    url, process = mlflow_server
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", url)

    def stop_server(record):
        if record["epoch"] == 1:
            process.terminate()
            process.wait(30)

    messages = []
    result = train_run(make_config("gru", {**TINY, "epochs": 3}), on_epoch=stop_server, log=messages.append)
    assert result.status == "completed" and len(result.history) == 3 and result.metrics["accuracy"] >= 0
    warnings = [m for m in messages if m.startswith("warning: MLflow mirror")]
    assert len(warnings) == 1 and f"runs push {result.run.run_id}" in warnings[0]
    assert (result.run.path / "metrics.json").is_file()


def metric_entries(uri: str, run_id: str) -> dict[str, int]:
    """How many values MLflow holds per metric of the MLflow run mirroring our `run_id`."""
    [found] = mirrored(uri, run_id)
    return {key: len(client(uri).get_metric_history(found.info.run_id, key)) for key in found.data.metrics}


def test_pushing_again_logs_nothing_that_is_already_there(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = fake_run(RunStore(), "gru", 3, 55.0)
    run.write_history([{"epoch": 1, "val_accuracy": 50.0, "seconds": 2.0},
                       {"epoch": 2, "val_accuracy": 54.0, "seconds": 2.0}])
    assert main(["runs", "push", run.run_id, "--tracking-uri", uri]) == 0
    first = metric_entries(uri, run.run_id)
    assert first["test_accuracy"] == 1 and first["val_accuracy"] == 2
    assert main(["runs", "push", run.run_id, "--tracking-uri", uri]) == 0
    assert metric_entries(uri, run.run_id) == first  # nothing logged twice
    metrics = run.metrics
    run.write_json("metrics.json", {**metrics, "accuracy": 56.0})  # e.g. measured again: the new value is added
    assert main(["runs", "push", run.run_id, "--tracking-uri", uri]) == 0
    again = metric_entries(uri, run.run_id)
    assert again["test_accuracy"] == 2 and again["val_accuracy"] == 2 and again["best_val_accuracy"] == 1
    capsys.readouterr()


@pytest.mark.slow
def test_json_commands_print_one_document_with_a_server_that_prints_links(mlflow_server, monkeypatch, capsys):
    import json

    url, _ = mlflow_server
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")  # a loaded machine: the mirror must not give up here
    assert main(["train", "--arch", "gru", "--limit", "150", "--epochs", "1", "--device", "cpu", "--pretrained",
                 "none", "--set", "hidden_size=16", "--set", "embedding_dim=16", "--set", "head_units=16",
                 "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)  # one document, nothing before or after it
    assert document["status"] == "completed" and "View run" in err  # MLflow's link, on stderr
    assert main(["runs", "push", document["run_id"], "--json"]) == 0
    out, err = capsys.readouterr()
    [row] = json.loads(out)
    assert row["run_id"] == document["run_id"] and "View run" in err
