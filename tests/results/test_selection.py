"""Run filters and the comparison a URL's query keeps."""

from __future__ import annotations

from conftest import fake_run

from goemo_core.results.selection import Permalink, RunFilter, default_selection, filter_options
from goemo_core.runs.folder import RunLabel
from goemo_core.runs.store import RunStore


def test_filters_keep_runs_matching_every_condition_and_list_their_options():
    store = RunStore()
    gru = fake_run(store, "gru", 211, 60.0)
    lstm = fake_run(store, "lstm", 211, 61.0)
    failed = fake_run(store, "lstm", 212, None)
    gru.set_label(RunLabel.clean("Baseline GRU", ("baseline",)))
    lstm.set_label(RunLabel.clean("lstm trial", ("trial", "baseline")))
    runs = store.list()
    assert filter_options(runs) == {"arch": ["gru", "lstm"], "task": ["ekman"], "tag": ["baseline", "trial"],
                                    "status": ["completed", "failed"]}
    ids = lambda kept: sorted(run.run_id for run in kept)  # noqa: E731
    assert ids(RunFilter(tag=("baseline",)).apply(runs)) == ids([gru, lstm])
    assert ids(RunFilter(arch=("lstm",), status=("failed",)).apply(runs)) == [failed.run_id]
    assert ids(RunFilter(name="GRU").apply(runs)) == [gru.run_id]  # case-insensitive, name or id
    assert ids(RunFilter(task=("sentiment",)).apply(runs)) == []
    assert len(RunFilter().apply(runs)) == 3 and not RunFilter().active


def test_a_permalink_reads_back_what_it_writes():
    link = Permalink(RunFilter(arch=("gru", "lstm"), tag=("baseline",), name="trial"), ("a-1", "b-2"))
    query = link.to_query()
    assert query == {"arch": ["gru", "lstm"], "tag": ["baseline"], "name": "trial", "run": ["a-1", "b-2"]}
    assert Permalink.from_query(query) == link
    assert Permalink.from_query({"run": "a-1,b-2", "arch": "gru"}) == Permalink(RunFilter(arch=("gru",)),
                                                                               ("a-1", "b-2"))
    assert Permalink().to_query() == {}


def test_a_permalink_carries_its_task_and_a_link_without_one_takes_its_runs_task():
    store = RunStore()
    ekman = fake_run(store, "gru", 211, 60.0)
    multi = [fake_run(store, "gru", seed, 20.0, task="goemotions") for seed in (211, 212)]
    link = Permalink(RunFilter(tag=("a",)), (multi[0].run_id,), "goemotions")
    assert link.to_query() == {"task": "goemotions", "tag": ["a"], "run": [multi[0].run_id]}
    assert Permalink.from_query(link.to_query()) == link
    runs = store.list()
    assert link.task_among(runs) == "goemotions"
    assert Permalink(runs=(multi[0].run_id, multi[1].run_id, ekman.run_id)).task_among(runs) == "goemotions"
    assert Permalink(runs=(ekman.run_id,)).task_among(runs) == "ekman"
    assert Permalink().task_among(runs) is None


def test_the_default_selection_takes_whole_recipes_newest_first():
    store = RunStore()
    made = []
    for recipe, seeds in ((16, 3), (32, 3), (64, 3), (128, 1)):  # oldest first: the 128 recipe is the newest
        made += [fake_run(store, "gru", 211 + k, 60.0, params={"hidden_size": recipe}) for k in range(seeds)]
    failed = fake_run(store, "gru", 300, None)  # never selected
    by_id = {run.run_id: run for run in store.list()}
    runs = [by_id[failed.run_id], *(by_id[run.run_id] for run in reversed(made))]  # newest first
    chosen = [runs[i] for i in default_selection(runs, max_runs=8)]
    sizes = sorted(run.config["params"]["hidden_size"] for run in chosen)
    assert sizes == [32, 32, 32, 64, 64, 64, 128]  # three whole recipes (7 runs); the next would split
    assert len(default_selection(runs, max_runs=2)) == 1  # the newest recipe, whole
    three = [runs[2:][i] for i in default_selection(runs[2:], max_runs=2)]  # 3 seeds of the newest: all
    assert len({run.config["params"]["hidden_size"] for run in three}) == 1 and len(three) == 3
