"""Ensemble runs: the members' mean probabilities, written as a run that lists, predicts and compares like others."""

import json

import pytest
import torch

from goemo_core.cli import main
from goemo_core.errors import InvalidConfig
from goemo_core.results.run_tables import comparison_table
from goemo_core.results.summary import seed_summary
from goemo_core.runs.store import RunStore
from goemo_core.serving.ensemble import make_ensemble
from goemo_core.serving.predict import load_predictor
from goemo_core.training.config import make_config
from goemo_core.training.run import train_run

TINY = {"limit": 200, "epochs": 1, "hidden_size": 16, "embedding_dim": 16, "head_units": 16, "device": "cpu",
        "pretrained": None}


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Two tiny runs (a BiGRU and a BiLSTM) trained once for the module, in a home of their own."""
    import os

    from conftest import DATA_DIR

    home = tmp_path_factory.mktemp("ensemble-home")
    old = {k: os.environ.get(k) for k in ("GOEMO_HOME", "GOEMO_DATA_DIR", "GOEMO_PRETRAINED")}
    os.environ.update(GOEMO_HOME=str(home), GOEMO_DATA_DIR=str(DATA_DIR))
    os.environ.pop("GOEMO_PRETRAINED", None)
    try:
        runs = [train_run(make_config(arch, {**TINY, "seed": seed})).run.run_id
                for arch, seed in (("gru", 211), ("lstm", 212))]
    finally:
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return home, runs


@pytest.fixture
def home(members, monkeypatch):
    monkeypatch.setenv("GOEMO_HOME", str(members[0]))
    return members


def test_ensemble_probabilities_are_the_members_mean(home):
    _, ids = home
    store = RunStore()
    run = make_ensemble(ids, "pair")
    stored = run.load_probabilities()
    for split in ("validation", "test"):
        expected = torch.stack([store.get(i).load_probabilities()[split] for i in ids]).mean(0)
        torch.testing.assert_close(stored[split], expected, atol=1e-6, rtol=0)
    metrics = run.metrics
    from goemo_core.data.goemotions import load_goemotions

    truth = torch.tensor(load_goemotions()["test"]["label"][:200])
    predicted = stored["test"].argmax(-1)
    assert metrics["examples"] == 200
    assert metrics["accuracy"] == pytest.approx((predicted == truth).float().mean().item() * 100)
    assert run.is_ensemble and run.status == "completed" and run.display_name == "pair"
    assert run.config["members"] == ids and "validation" in metrics and metrics["cost"]["parameters"] > 0


def test_an_ensemble_predicts_lists_and_compares_like_any_run(home, capsys):
    _, ids = home
    store = RunStore()
    run = make_ensemble(ids)
    texts = ["I love this so much", "This is terrible"]
    mean = torch.stack([load_predictor(store.get(i)).probabilities(texts) for i in ids]).mean(0)
    torch.testing.assert_close(load_predictor(run).probabilities(texts), mean)
    [first, _] = load_predictor(run).predict(texts)
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)

    assert main(["predict", "--run", run.run_id, "--text", texts[0], "--json"]) == 0
    [prediction] = json.loads(capsys.readouterr().out)["predictions"]
    assert prediction["probabilities"] == pytest.approx(first["probabilities"])
    assert main(["runs", "list", "--json"]) == 0
    listed = {row["run_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed[run.run_id]["arch"] == "ensemble" and listed[run.run_id]["status"] == "completed"
    table = comparison_table(store.list())
    assert run.run_id in set(table["run_id"])
    summary = seed_summary(store.list())
    [row] = summary[summary["arch"] == "ensemble"].to_dict("records")
    assert row["changes"].startswith("members: ") and row["pretrained"] == "members"  # not "none": it trains nothing


def test_the_ensemble_command_and_bad_members(home, capsys, tmp_path):
    _, ids = home
    assert main(["ensemble", "--runs", *ids, "--name", "cli pair", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["members"] == ids and 0 <= document["test"]["accuracy"] <= 100
    assert RunStore().get(document["run_id"]).display_name == "cli pair"
    assert main(["ensemble", "--runs", ids[0]]) == 2  # one run is no ensemble
    assert main(["ensemble", "--runs", ids[0], "nope-run"]) == 3  # a missing member
    store = RunStore()
    unfinished = store.create({"arch": "gru", "limit": 200})  # still 'running'
    with pytest.raises(InvalidConfig, match=unfinished.run_id):
        make_ensemble([ids[0], unfinished.run_id])
    other = store.get(ids[1])
    config = other.config
    config["limit"] = 100  # as if trained on other data
    other.write_json("config.json", config)
    try:
        with pytest.raises(InvalidConfig, match="other data"):
            make_ensemble(ids)
    finally:
        config["limit"] = 200
        other.write_json("config.json", config)


@pytest.fixture
def own_home(members, tmp_path, monkeypatch):
    """A copy of the members' home, so a test can damage it."""
    import shutil

    home = tmp_path / "own"
    shutil.copytree(members[0], home)
    monkeypatch.setenv("GOEMO_HOME", str(home))
    return home, members[1]


def test_an_ensemble_is_refused_when_the_test_split_changed_since_its_members_were_trained(own_home, tmp_path,
                                                                                            monkeypatch):
    import shutil

    from conftest import DATA_DIR

    _, ids = own_home
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    lines = (data / "test.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    text, labels, comment = lines[0].rstrip("\n").split("\t")
    lines[0] = f"{text}\t{'27' if labels != '27' else '17'}\t{comment}\n"  # one test label changed on disk
    (data / "test.tsv").write_text("".join(lines), encoding="utf-8")
    monkeypatch.setenv("GOEMO_DATA_DIR", str(data))
    before = len(RunStore().list())
    with pytest.raises(InvalidConfig, match="evaluated on other validation/test data"):
        make_ensemble(ids)
    assert len(RunStore().list()) == before


def test_stored_probabilities_of_the_wrong_shape_are_not_averaged(own_home):
    from safetensors.torch import save_file

    _, ids = own_home
    expected = make_ensemble(ids).metrics
    member = RunStore().get(ids[0])
    stored = member.load_probabilities()
    save_file({name: torch.full((len(p), 3), 1 / 3) for name, p in stored.items()}, str(member.probabilities_path))
    again = make_ensemble(ids).metrics  # recomputed through the member's predictor
    assert again["accuracy"] == pytest.approx(expected["accuracy"]) and again["confusion"] == expected["confusion"]


def test_predict_gives_an_empty_text_the_probabilities_that_probabilities_gives_it(home):
    _, ids = home
    for run_id in ids:
        predictor = load_predictor(RunStore().get(run_id))
        empty, blank, sentence = predictor.predict(["", "   ", "I love it"])
        expected = predictor.probabilities(["", "   "])
        for row, result in zip(expected.tolist(), (empty, blank)):
            assert list(result["probabilities"].values()) == pytest.approx(row)
            assert sum(result["probabilities"].values()) == pytest.approx(1.0)
            assert result["label"] is None and result["note"].startswith("empty text")
        assert sentence["label"] in sentence["probabilities"] and sentence["note"] is None
