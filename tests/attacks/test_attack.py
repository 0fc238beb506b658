"""`goemo attack` on tiny runs: the five figures, recomputed from the examples file to the same values; the same
texts for two runs of the task; a stored attack kept; a hub-only recipe and a multi-label run refused in one line."""

import json
import os
import subprocess
import sys

import pytest
from conftest import DATA_DIR, fake_run

from goemo_core.attacks.figures import figures_from_records
from goemo_core.errors import InvalidConfig
from goemo_core.runs.attack_files import attack_path, read_attack, read_attack_examples
from goemo_core.runs.store import RunStore

pytestmark = pytest.mark.slow  # trains two runs and starts the CLI in processes of its own

TINY = ["--epochs", "1", "--limit", "300", "--set", "hidden_size=16", "--set", "embedding_dim=16"]


def cli(*args, env):
    return subprocess.run([sys.executable, "-m", "goemo_core", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("attack-home")
    env = {"GOEMO_HOME": str(home), "GOEMO_DATA_DIR": str(DATA_DIR), "GOEMO_DEVICE": "cpu", "GOEMO_PRETRAINED": ""}
    run_ids = []
    for seed in ("211", "212"):
        out = cli("train", "--arch", "gru", "--seed", seed, *TINY, "--json", env=env)
        assert out.returncode == 0, out.stderr
        run_ids.append(json.loads(out.stdout)["run_id"])
    return env, run_ids


@pytest.fixture
def store(tiny_runs, monkeypatch):
    env, _ = tiny_runs
    monkeypatch.setenv("GOEMO_HOME", env["GOEMO_HOME"])
    return RunStore()


def test_attack_json_gives_the_five_figures_and_the_examples_file_gives_them_again(tiny_runs, store):
    env, (run_id, _) = tiny_runs
    out = cli("attack", run_id, "--recipe", "pwws", "--n", "50", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert "50/50 examples" in out.stderr  # progress on stderr, one JSON document on stdout
    document = json.loads(out.stdout)
    figures = document["figures"]
    for name in ("accuracy_under_attack", "attack_success_rate", "skipped", "avg_perturbed_word_percent",
                 "avg_queries"):
        assert name in figures
    assert figures["examples"] == 50 and figures["successful"] + figures["failed"] + figures["skipped"] == 50
    assert figures["accuracy_under_attack"] == pytest.approx(figures["failed"] * 2.0)
    assert document["recipe"] == "pwws" and document["textattack_recipe"] == "PWWSRen2019"
    assert document["sample"]["n"] == 50 and document["examples_per_minute"] > 0
    run = store.get(run_id)
    assert read_attack(run, "pwws") == document
    records = read_attack_examples(run, "pwws")
    assert len(records) == 50 and figures_from_records(records) == figures
    for record in records:
        assert sum(record["original_probabilities"]) == pytest.approx(1.0, abs=1e-4)
        assert (record["perturbed"] == record["original"]) == (record["result"] == "skipped" or not record["changed"])


def test_two_runs_of_the_task_are_attacked_on_the_same_texts_and_a_stored_attack_is_kept(tiny_runs, store):
    from goemo_core.attacks.attack import attack_run, attack_runs

    _, (first_id, second_id) = tiny_runs
    first, second = store.get(first_id), store.get(second_id)
    if read_attack(first, "pwws") is None:  # when this test runs alone
        attack_run(first, "pwws", 50, 211)
    document = attack_run(second, "pwws", 50, 211)
    assert document["sample"] == read_attack(first, "pwws")["sample"]
    texts = [[r["original"] for r in read_attack_examples(run, "pwws")] for run in (first, second)]
    assert texts[0] == texts[1] and len(set(texts[0])) == 50
    stamp = attack_path(second, "pwws").stat().st_mtime_ns
    again = attack_run(second, "pwws", 50, 211)
    assert again["reused"] and again["figures"] == document["figures"]
    with pytest.raises(InvalidConfig, match="already has a pwws attack on another sample .n=50, seed 211.; attack "
                                            "again with --fresh"):
        attack_runs([second_id], ["pwws"], 40, 211)  # a smaller sample never silently replaces a larger one
    assert attack_path(second, "pwws").stat().st_mtime_ns == stamp


def test_a_hub_only_recipe_and_a_multi_label_run_are_refused_in_one_line(tiny_runs, store):
    env, (run_id, _) = tiny_runs
    hub = cli("attack", run_id, "--recipe", "textfooler", env=env)
    assert hub.returncode == 3 and hub.stdout == ""
    assert len(hub.stderr.strip().splitlines()) == 1 and "Universal Sentence Encoder" in hub.stderr
    multi = fake_run(store, "gru", 211, 40.0, task="ekman-multilabel")
    refused = cli("attack", multi.run_id, "--recipe", "pwws", env=env)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "multi-label" in refused.stderr and not (multi.path / "attacks").exists()
    bad = cli("attack", run_id, "--recipe", "pwws", "--n", "0", env=env)
    assert bad.returncode == 2 and "--n: 0 must be at least 1" in bad.stderr
