"""Faults a user can cause: odd text, bad CSV uploads, damaged run directories. Each gets a clear message and
nothing completed is lost or altered."""

import hashlib
import io
import os
import subprocess
import sys

import pytest

from goemo_core.errors import InvalidConfig, MissingResource
from goemo_core.classify import read_text_table
from goemo_core.predict import Predictor
from goemo_core.runs import RunStore
from goemo_core.config import make_config
from goemo_core.train import train_run


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    """One tiny completed run, trained once for the module."""
    home = tmp_path_factory.mktemp("reliability")
    from conftest import DATA_DIR

    old = {k: os.environ.get(k) for k in ("GOEMO_HOME", "GOEMO_DATA_DIR", "GOEMO_PRETRAINED")}
    os.environ.update(GOEMO_HOME=str(home), GOEMO_DATA_DIR=str(DATA_DIR))
    os.environ.pop("GOEMO_PRETRAINED", None)  # the learnt vocabulary: emoji and Japanese are unknown to it
    try:
        result = train_run(make_config("gru", {"limit": 150, "epochs": 1, "hidden_size": 16, "embedding_dim": 16,
                                               "head_units": 16, "device": "cpu"}))
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return home, result.run.run_id


@pytest.fixture
def predictor(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    return Predictor.from_run_id(run_id)


def digest(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir()) if p.is_file()}


@pytest.mark.parametrize("text, note", [
    ("", "empty"), ("   \n\t ", "empty"), ("happy " * 10000, "first 30 tokens"),
    ("\x00\x01\x02\xff\xfe binary", None), ("\U0001F600\U0001F525\U0001F389", "unknown"),
    ("これはテストです", "unknown"), ("\udcff lone surrogate", None),
])
def test_odd_texts_get_an_answer(predictor, text, note):
    (result,) = predictor.predict([text])
    if note == "empty":
        assert result["label"] is None and "empty" in result["note"]
        return
    assert result["label"] in result["probabilities"]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)
    if note:
        assert note in result["note"]


def test_bytes_that_are_not_utf8(predictor):
    (result,) = predictor.predict([b"caf\xe9 is \xff\xfe nice"])
    assert sum(result["probabilities"].values()) == pytest.approx(1.0)


@pytest.mark.slow
def test_cli_stdin_that_is_not_utf8(run_home):
    home, run_id = run_home
    out = subprocess.run([sys.executable, "-m", "goemo_core", "predict", "--run", run_id, "--json"],
                         input=b"caf\xe9 \xff\xfe ok\n", capture_output=True,
                         env={**os.environ, "GOEMO_HOME": str(home)}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert b'"probabilities"' in out.stdout


@pytest.mark.parametrize("content, message", [
    (b"sentence,score\nhello,1\n", "no 'text' column"),
    (b"", "empty"),
    (b'text\n"unterminated quote here\nsecond\n', "could not be parsed"),
])
def test_bad_csv_uploads_name_the_problem(content, message):
    with pytest.raises(InvalidConfig, match=message):
        read_text_table(io.BytesIO(content))


def test_huge_csv_is_refused_not_processed():
    content = b"text\n" + b"a sentence\n" * 100_000
    with pytest.raises(InvalidConfig, match="100,000 rows"):
        read_text_table(io.BytesIO(content))


def test_csv_with_bad_bytes_still_reads():
    frame = read_text_table(io.BytesIO(b"text,other\ncaf\xe9,1\nfine,2\n"))
    assert len(frame) == 2


def test_corrupt_weights_are_reported_and_other_runs_untouched(run_home, monkeypatch, tmp_path):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    store = RunStore()
    before = digest(store.get(run_id).path)
    copy = store.create({**store.get(run_id).config, "arch": "gru"})
    for name in ("tokenizer.json", "model.safetensors"):
        (copy.path / name).write_bytes((store.get(run_id).path / name).read_bytes())
    copy.set_status("completed")
    (copy.path / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(MissingResource, match="corrupt"):
        Predictor(copy)
    (copy.path / "tokenizer.json").unlink()
    with pytest.raises(MissingResource, match="tokenizer.json missing"):
        Predictor(copy)
    assert digest(store.get(run_id).path) == before
    assert Predictor.from_run_id(run_id).predict(["fine"])[0]["label"]


def test_run_with_missing_config_is_not_listed(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("GOEMO_HOME", str(home))
    broken = home / "runs" / "lstm-20000101-000000-dead"
    broken.mkdir()
    (broken / "status").write_text("completed")
    assert "lstm-20000101-000000-dead" not in [r.run_id for r in RunStore().list()]
    with pytest.raises(MissingResource):
        RunStore().get("lstm-20000101-000000-dead")


def test_no_pickle_loading_anywhere():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offenders = []
    for folder, _, files in os.walk(root):
        if any(part in folder for part in (".git", "artifacts", "__pycache__")):
            continue
        for name in files:
            if name.endswith(".py") and name != "test_reliability.py":
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                for line in text.splitlines():
                    if ("torch.load(" in line and "weights_only=True" not in line) or "pickle.load" in line:
                        offenders.append(f"{name}: {line.strip()}")
    assert offenders == []


def test_streamlit_config_is_local_only():
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, ".streamlit", "config.toml"), "rb") as handle:
        config = tomllib.load(handle)
    assert config["server"]["address"] == "127.0.0.1"
    assert 0 < config["server"]["maxUploadSize"] <= 50


def test_passwords_are_masked():
    from goemo_core.settings import mask_url

    assert mask_url("postgresql://bob:s3cr3t@db:5432/optuna") == "postgresql://bob:***@db:5432/optuna"
    assert mask_url("sqlite:////tmp/optuna.db") == "sqlite:////tmp/optuna.db"
