"""Results files: a grid's runs exported, read back as reference runs that summarise exactly like the run folders
they came from, refused in one line when damaged; the headline rendered from them; the README kept equal to it."""

from __future__ import annotations

import json

import pytest
from conftest import fake_run

from goemo_core.cli import main
from goemo_core.errors import MissingResource
from goemo_core.results.headline import headline_markdown, headline_rows
from goemo_core.results.reference import export_results, load_results, reference_runs, write_results
from goemo_core.results.summary import seed_summary
from goemo_core.runs.store import RunStore

def a_grid(store):
    """Three seeds of two architectures, a limited run and a failed one (neither exported)."""
    runs = []
    for seed, (gru, lstm) in zip((211, 212, 213), ((67.1, 66.9), (67.3, 66.7), (67.0, 66.8))):
        runs.append(fake_run(store, "gru", seed, gru, 0.60, val_accuracy=gru + 0.4))
        runs.append(fake_run(store, "lstm", seed, lstm, 0.59, val_accuracy=lstm + 0.3))
    fake_run(store, "gru", 211, 50.0, limit=300)
    fake_run(store, "rwkv", 211, None)
    return runs


def test_exported_runs_summarise_like_their_folders(tmp_path):
    store = RunStore()
    a_grid(store)
    path = write_results(tmp_path / "ekman-cpu.json", export_results(store.list(), "ekman"))
    document = load_results(path)
    assert document.task == "ekman" and len(document.runs) == 6 and "torch" in document.packages
    assert {r.config["arch"] for r in document.runs} == {"gru", "lstm"}
    from_file = seed_summary(reference_runs(path))
    full_data = [run for run in store.list() if run.config.get("limit") is None]
    from_folders = seed_summary(full_data)
    columns = ["arch", "runs", "chosen", "val_accuracy_mean", "test_accuracy_mean", "test_accuracy_std",
               "test_macro_f1_mean", "vs_best"]
    assert from_file[columns].to_dict("records") == from_folders[columns].to_dict("records")


def test_exporting_again_gives_the_same_runs(tmp_path):
    store = RunStore()
    a_grid(store)
    first = export_results(store.list(), "ekman")
    second = export_results(store.list(), "ekman")
    assert first["runs"] == second["runs"]


def test_no_runs_to_export_is_one_clear_line(tmp_path, capsys):
    assert main(["results", "export", "--out", str(tmp_path / "x.json")]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No completed full-data run" in err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("damage", ["not json", "{}", '{"format": 2}', "truncate", "bad run"])
def test_a_damaged_results_file_is_refused_in_one_line(tmp_path, capsys, damage):
    store = RunStore()
    a_grid(store)
    path = write_results(tmp_path / "r.json", export_results(store.list(), "ekman"))
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "bad run":
        document = json.loads(text)
        document["runs"][0]["metrics"]["accuracy"] = "67"
        path.write_text(json.dumps(document))
    else:
        path.write_text(damage)
    with pytest.raises(MissingResource):
        load_results(path)
    assert main(["runs", "summary", "--from", str(path)]) == 3
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_runs_summary_reads_a_results_file(tmp_path, capsys):
    store = RunStore()
    a_grid(store)
    path = write_results(tmp_path / "r.json", export_results(store.list(), "ekman"))
    for run in store.list():  # the file stands alone: the runs are gone
        store.delete(run.run_id)
    assert main(["runs", "summary", "--from", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["arch"] for r in rows) == ["gru", "lstm"] and all(r["runs"] == 3 for r in rows)
    assert main(["runs", "summary", "--from", str(path), "--format", "markdown"]) == 0
    assert "| gru |" in capsys.readouterr().out


def test_the_headline_chooses_on_validation_and_tests_against_the_best(tmp_path):
    store = RunStore()
    a_grid(store)
    path = write_results(tmp_path / "ekman-cpu.json", export_results(store.list(), "ekman"))
    rows = headline_rows(reference_runs(path))
    assert [r["model"] for r in rows] == ["BiGRU", "BiLSTM"]
    assert rows[0]["vs_best"] == "best on validation" and rows[1]["vs_best"].startswith("p = ")  # 0.3 points apart
    text = headline_markdown([path])
    assert "| BiGRU | 3 | 67.53 | 67.13 ± 0.15 |" in text
    assert "the course notebook's best run" in text and "sample standard deviation" in text


def test_the_headline_is_written_between_the_markers_and_a_file_without_them_is_refused(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    store = RunStore()
    for seed in (211, 212):
        fake_run(store, "gru", seed, 60.0 + seed - 211)
    assert main(["results", "export", "--task", "ekman", "--out", str(results / "ekman.json")]) == 0
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- headline:start -->\nold table\n<!-- headline:end -->\nafter\n")
    assert main(["results", "headline", "--dir", str(results), "--write", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("<!-- headline:end -->\nafter\n")
    assert "| BiGRU | 2 |" in text
    assert main(["results", "headline", "--dir", str(results), "--write", str(readme)]) == 0
    assert readme.read_text() == text  # writing again changes nothing
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    capsys.readouterr()
    assert main(["results", "headline", "--dir", str(results), "--write", str(plain)]) == 2
    error = capsys.readouterr().err.strip()
    assert "headline:start" in error and "\n" not in error and plain.read_text() == "no markers\n"
