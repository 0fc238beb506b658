"""Where architectures disagree: each architecture's chosen recipe (on validation), the test examples their runs
predict differently, and `runs disagreements`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scored_runs import scored_run

from goemo_core.cli import main
from goemo_core.errors import InvalidConfig
from goemo_core.results.disagreements import chosen_runs, disagreements
from goemo_core.runs.store import RunStore


def test_disagreements_list_exactly_the_examples_predicted_differently():
    store = RunStore()
    gru, targets, p_gru = scored_run(store, "gru", draw=1, skill=1.0)
    lstm, _, p_lstm = scored_run(store, "lstm", draw=2, skill=1.0)
    found = disagreements([gru, lstm], {gru.run_id: "A", lstm.run_id: "B"})
    differ = p_gru["test"].argmax(-1) != p_lstm["test"].argmax(-1)
    frame, summary = found["frame"], found["summary"]
    assert summary["disagreements"] == len(frame) == differ.sum() > 0 and summary["examples"] == len(differ)
    assert (frame["A"] != frame["B"]).all()
    a_right = (p_gru["test"].argmax(-1) == targets["test"])[differ].sum()
    assert summary["runs"][0]["right_where_they_disagree"] == a_right
    both_wrong = (differ & (p_gru["test"].argmax(-1) != targets["test"])
                  & (p_lstm["test"].argmax(-1) != targets["test"])).sum()
    assert summary["all_wrong"] == both_wrong
    confidence = frame[["A confidence", "B confidence"]].max(axis=1)
    assert confidence.is_monotonic_decreasing


def test_each_architecture_stands_for_its_recipe_chosen_on_validation_and_its_best_seed():
    store = RunStore()
    plain = [scored_run(store, "gru", seed, draw=seed, val_accuracy=60.0 + seed - 211)[0] for seed in (211, 212)]
    wider = scored_run(store, "gru", 211, draw=5, val_accuracy=70.0, params={"hidden_size": 64})[0]
    lstm = scored_run(store, "lstm", 211, draw=6, val_accuracy=50.0)[0]
    assert [run.run_id for run in chosen_runs(store.list())] == [wider.run_id, lstm.run_id]
    assert plain  # the plain recipe (validation 60.5 on average) loses to the wider one (70)


def test_runs_of_other_examples_or_tasks_are_refused_and_the_cli_compares_the_chosen_recipes(capsys):
    store = RunStore()
    gru = scored_run(store, "gru", draw=1, skill=1.0)[0]
    rwkv = scored_run(store, "rwkv", draw=2, skill=1.0)[0]
    short = scored_run(store, "lstm", limit=200, draw=3)[0]
    multi = scored_run(store, "xlstm", task="ekman-multilabel", draw=4)[0]
    with pytest.raises(InvalidConfig, match="other examples"):
        disagreements([gru, short])
    with pytest.raises(InvalidConfig, match="different tasks"):
        disagreements([gru, multi])
    with pytest.raises(InvalidConfig, match="at least two"):
        disagreements([gru])
    assert main(["runs", "disagreements", gru.run_id, rwkv.run_id, "--top", "5", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in document["runs"]] == ["gru", "rwkv"] and document["shown"] == 5
    row = document["examples_disagreeing"][0]
    assert row[gru.run_id] != row[rwkv.run_id] and 0 <= row[f"{gru.run_id} confidence"] <= 1
    assert main(["runs", "disagreements", "--task", "ekman-multilabel"]) == 2  # one architecture only
    assert main(["runs", "disagreements", "--json", gru.run_id, short.run_id]) == 2
    assert np.isfinite(document["disagreements"])
