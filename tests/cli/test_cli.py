"""The CLI contract: JSON documents, exit codes 2 (bad arguments) and 3 (missing resources)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import DATA_DIR

pytestmark = pytest.mark.slow  # every test starts the CLI in a process of its own


def cli(*args, env=None, input=None):
    return subprocess.run([sys.executable, "-m", "goemo_core", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=input, timeout=600)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    env = {"GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "GOEMO_DEVICE": "cpu", "GOEMO_PRETRAINED": ""}
    out = cli("train", "--arch", "gru", "--epochs", "1", "--limit", "300", "--set", "hidden_size=16",
              "--set", "embedding_dim=16", "--json", env=env)
    assert out.returncode == 0, out.stderr
    return env, json.loads(out.stdout)


def test_train_json_document(trained_run):
    env, document = trained_run
    assert set(document) >= {"run_id", "run_dir", "best_epoch", "history", "test"}
    test = document["test"]
    assert set(test) >= {"accuracy", "macro_f1", "per_class", "confusion"}
    assert list(test["per_class"]) == ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"]
    assert sum(map(sum, test["confusion"])) == 300 and 0 <= test["accuracy"] <= 100


def test_predict_gives_seven_probabilities_summing_to_one(trained_run):
    env, document = trained_run
    out = cli("predict", "--run", document["run_id"], "--text", "I love this!", "--text", "This is awful",
              "--json", env=env)
    assert out.returncode == 0, out.stderr
    predictions = json.loads(out.stdout)["predictions"]
    assert len(predictions) == 2
    for p in predictions:
        assert len(p["probabilities"]) == 7 and sum(p["probabilities"].values()) == pytest.approx(1.0)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)


def test_predict_reads_stdin_and_handles_odd_input(trained_run):
    env, document = trained_run
    out = cli("predict", "--run", document["run_id"], "--json", env=env,
              input="x" * 50000 + "\n\U0001F600\U0001F602\nbonjour tout le monde\n")
    predictions = json.loads(out.stdout)["predictions"]
    assert len(predictions) == 3 and "first 30 tokens" in predictions[0]["note"]
    empty = cli("predict", "--run", document["run_id"], "--text", "   ", env=env)
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_runs_list_shows_the_run(trained_run):
    env, document = trained_run
    rows = json.loads(cli("runs", "list", "--json", env=env).stdout)
    row = next(r for r in rows if r["run_id"] == document["run_id"])
    assert row["arch"] == "gru" and row["status"] == "completed" and row["test_accuracy"] is not None
    assert set(row) >= {"run_id", "arch", "task", "status", "test_accuracy", "test_macro_f1", "created"}
    assert row["task"] == "ekman"


def test_a_teacher_given_as_best_arch_is_resolved_and_said(trained_run):
    env, document = trained_run
    tiny = ("--limit", "300", "--epochs", "1", "--set", "hidden_size=16", "--set", "embedding_dim=16")
    out = cli("bench", "distill", "--teacher", "best:gru", "--seeds", "2", *tiny, "--plan", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert [row["state"] for row in json.loads(out.stdout)["rows"]] == ["new", "new"]
    assert f"best:gru is {document['run_id']}, the best on validation of 1 completed gru run" in out.stderr
    for command in (("train", "--arch", "gru"), ("bench", "distill")):
        refused = cli(*command, "--teacher", "best:transformer", *tiny, env=env)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines() == [
            "error: best:transformer: no completed transformer run on ekman with limit 300 to choose from (see "
            "`python -m goemo_core runs list`)."]


def test_runs_summary_pools_the_run_with_its_settings(trained_run):
    env, document = trained_run
    [row] = json.loads(cli("runs", "summary", "--json", env=env).stdout)
    assert row["arch"] == "gru" and row["runs"] == 1 and row["seeds"] == [211] and row["limit"] == 300
    assert row["test_accuracy_mean"] == pytest.approx(document["test"]["accuracy"])
    assert row["test_accuracy_std"] is None and row["test_macro_f1_std"] is None  # one seed: no spread
    assert "hidden_size=16" in row["changes"] and "epochs=1" in row["changes"]
    text = cli("runs", "summary", env=env).stdout
    lines = text.splitlines()
    assert lines[0] == "task ekman" and lines[2].split()[0] == "gru" and "limit 300" in text  # a mark, then the arch


@pytest.mark.parametrize("args, code, words", [
    (("train", "--arch", "nope"), 2, "arch"),
    (("train", "--arch", "lstm", "--set", "hidden_size=0"), 2, "hidden_size"),
    (("train", "--arch", "lstm", "--set", "lr=-1"), 2, "lr"),
    (("train", "--arch", "lstm", "--set", "colour=blue"), 2, "colour"),
    (("train", "--arch", "lstm", "--epochs", "two"), 2, "--epochs"),
    (("predict", "--run", "missing-run", "--text", "hi"), 3, "No run"),
    (("frobnicate",), 2, "invalid choice"),
])
def test_errors_are_one_line_with_the_right_status(args, code, words):
    out = cli(*args)
    assert out.returncode == code
    assert words in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unwritable_home_is_a_clear_error(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    out = cli("train", "--arch", "gru", "--limit", "50", "--epochs", "1", env={"GOEMO_HOME": str(blocked / "sub")})
    assert out.returncode == 3 and "GOEMO_HOME" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["train", "--arch", "gru", "--epochs", "1", "--set", "epochs=2"], "epochs: given twice"),
    (["train", "--arch", "gru", "--seed", str(2**70)], "seed"),
    (["train", "--arch", "gru", "--set", "warmup_epochs=inf"], "warmup_epochs: inf is not a finite number"),
    (["train", "--arch", "gru", "--set", "params=xy"], "params: give each model hyperparameter"),
    (["train", "--arch", "gru", "--set", "epochs=2.7"], "epochs: '2.7' is not a valid whole number"),
    (["train", "--arch", "gru", "--set", "hidden_size=16.9"], "hidden_size: '16.9' is not a valid whole number"),
    (["train", "--arch", "gru", "--set", "recipe=banana"], "recipe: set by the device"),
    (["train", "--arch", "gru", "--limit", "0"], "limit: 0 must be ≥ 1"),
    (["tune", "--arch", "gru", "--n-trials", "1", "--batches-per-epoch", "-5"], "--batches-per-epoch: -5"),
    (["tune", "--arch", "gru", "--n-trials", "1", "--range", "lr=nan:1"], "must be finite"),
    (["tune", "--arch", "gru", "--n-trials", "1", "--study", "x" * 600], "--study: a study name has 1 to 200"),
    (["dashboard", "--port", "99999"], "99999 is not a port number"),
    (["bench", "accuracy", "--limit", "0"], "--limit: 0 must be at least 1"),
    (["bench", "accuracy", "--epochs", "0"], "--epochs: 0 must be at least 1"),
])
def test_values_at_the_boundary_exit_2_with_one_line(args, words):
    from goemo_core.cli import main

    done = subprocess.run([sys.executable, "-m", "goemo_core", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GOEMO_DATA_DIR": str(DATA_DIR)})
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr and main is not None
