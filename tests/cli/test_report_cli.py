"""`report`: the HTML report from the command line, with the CLI's contract (one JSON document with --json, exit 2
for bad arguments, exit 3 for a missing resource)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from goemo_core.cli import main
from goemo_core.runs.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reports"))
from report_home import SCRIPT_NAME, trained_run  # noqa: E402


@pytest.fixture
def two_tasks():
    store = RunStore()
    ekman = [trained_run(store, "gru", seed, 0.6, epochs=2) for seed in (1, 2)]
    other = trained_run(store, "lstm", 3, 0.5, epochs=2)
    config = json.loads((other.path / "config.json").read_text())
    (other.path / "config.json").write_text(json.dumps({**config, "task": "sentiment-single"}))
    return ekman, other.refresh()


def test_report_all_writes_one_file_and_prints_one_json_document(two_tasks, tmp_path, capsys):
    ekman, other = two_tasks
    target = tmp_path / "out" / "r.html"
    target.parent.mkdir()
    assert main(["report", "--all", "--html", str(target), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["file"] == str(target) and document["bytes"] == target.stat().st_size
    assert sorted(document["runs"]) == sorted(run.run_id for run in [*ekman, other])
    assert document["tasks"] == ["ekman", "sentiment-single"]
    text = target.read_text()
    assert 'id="task-ekman"' in text and 'id="task-sentiment-single"' in text and "summary-sentiment-single" in text


def test_report_by_task_and_by_name(two_tasks, tmp_path, capsys):
    ekman, other = two_tasks
    assert main(["report", "--task", "sentiment-single", "--html", str(tmp_path / "a.html"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == [other.run_id]
    assert main(["report", ekman[0].run_id, "--html", str(tmp_path / "b.html"), "--title", SCRIPT_NAME]) == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "b.html").read_text()
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in text and "<script" not in text


def exit_code(args: list[str]) -> int:
    """main's status, whether it returns it or argparse exits with it."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("args", [["--html", "x.html"], ["--all", "--task", "ekman", "--html", "x.html"],
                                  ["--all"], ["--task", "nope", "--html", "x.html"]])
def test_bad_arguments_exit_2_with_one_line(args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exit_code(["report", *args]) == 2
    error = capsys.readouterr().err.strip()
    assert error and len(error.splitlines()) == 1 and not (tmp_path / "x.html").exists()


def test_a_missing_run_or_an_unwritable_file_exits_3(two_tasks, tmp_path, capsys):
    assert main(["report", "no-such-run", "--html", str(tmp_path / "r.html")]) == 3
    assert "No run 'no-such-run'" in capsys.readouterr().err
    assert main(["report", "--all", "--html", str(tmp_path / "missing" / "r.html")]) == 3
    assert "cannot write" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_an_empty_home_exits_3_and_says_what_to_set(tmp_path, capsys):
    assert main(["report", "--all", "--html", str(tmp_path / "r.html")]) == 3
    assert "GOEMO_HOME" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
