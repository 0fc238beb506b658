"""Run filters and the comparison a URL's query keeps."""

from __future__ import annotations

from conftest import fake_run

from goemo_core.results.selection import Permalink, RunFilter, filter_options
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
