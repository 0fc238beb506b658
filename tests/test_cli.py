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
    assert set(row) >= {"run_id", "arch", "status", "test_accuracy", "test_macro_f1", "created"}


def test_runs_summary_pools_the_run_with_its_settings(trained_run):
    env, document = trained_run
    [row] = json.loads(cli("runs", "summary", "--json", env=env).stdout)
    assert row["arch"] == "gru" and row["runs"] == 1 and row["seeds"] == [211] and row["limit"] == 300
    assert row["test_accuracy_mean"] == pytest.approx(document["test"]["accuracy"])
    assert row["test_accuracy_std"] is None and row["test_macro_f1_std"] is None  # one seed: no spread
    assert "hidden_size=16" in row["changes"] and "epochs=1" in row["changes"]
    text = cli("runs", "summary", env=env).stdout
    assert text.splitlines()[1].startswith("gru") and "limit=300" in text


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
