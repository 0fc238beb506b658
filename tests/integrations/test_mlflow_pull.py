"""`runs pull`: runs mirrored to MLflow (here a SQLite store with its artifacts beside it) come back as ordinary run
folders in another GOEMO_HOME, byte for byte; pulling again adds nothing; a damaged artifact is refused in one line
and leaves nothing behind; --experiment and --since choose what is pulled; a missing URI or experiment says what to
set. The same over a real `mlflow server` with served artifacts: tests/jobs/test_workers_postgres.py."""

import json
from datetime import datetime, timedelta

import pytest
from conftest import digest, unavailable, whole_run

from goemo_core.cli import main
from goemo_core.errors import InvalidConfig
from goemo_core.integrations.mlflow_pull import parse_since
from goemo_core.runs.folder import RunLabel
from goemo_core.runs.manifest import TRAVELLING_FILES
from goemo_core.runs.store import RunStore


@pytest.fixture(autouse=True)
def mlflow_installed():
    try:
        import mlflow  # noqa: F401
    except ImportError:
        unavailable("mlflow is not installed (requirements.txt)")


@pytest.fixture
def pushed(tmp_path, monkeypatch, capsys):
    """Two runs pushed to a SQLite MLflow store from the test's home; GOEMO_HOME then points at an empty one."""
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    store = RunStore()
    runs = [whole_run(store), whole_run(store)]
    runs[1].set_label(RunLabel("second", ["grid g"], "a note"))
    assert main(["runs", "push", "--all"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("GOEMO_HOME", str(tmp_path / "laptop"))
    return runs


def pull(capsys, *extra) -> tuple[int, dict, str]:
    code = main(["runs", "pull", "--json", *extra])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_pulled_runs_are_the_same_folders_and_pulling_again_adds_nothing(pushed, capsys):
    code, report, _ = pull(capsys)
    assert code == 0 and sorted(r["run_id"] for r in report["imported"]) == sorted(r.run_id for r in pushed)
    assert report["skipped"] == report["refused"] == []
    store = RunStore()
    for original in pushed:
        copy = store.get(original.run_id)
        assert copy.status == "completed" and copy.problem is None
        copied = digest(copy.path)
        assert copied.pop("origin.json") and copied == digest(original.path)  # every file as it was, and its origin
        assert copy.origin["source"] == "mlflow" and copy.trained_on == original.trained_on
    assert store.get(pushed[1].run_id).label.name == "second"
    row = next(r for r in report["imported"] if r["run_id"] == pushed[0].run_id)
    assert (row["arch"], row["seed"], row["device"], row["experiment"]) == ("gru", 211, "CPU", "goemotions-ekman")
    assert row["bytes"] == sum((pushed[0].path / name).stat().st_size for name in TRAVELLING_FILES
                               if (pushed[0].path / name).is_file())

    code, again, _ = pull(capsys)
    assert code == 0 and again["imported"] == [] and {r["reason"] for r in again["skipped"]} == {"already here"}
    assert main(["runs", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_a_damaged_artifact_is_refused_in_one_line_and_leaves_nothing(pushed, tmp_path, capsys):
    victim = pushed[0]
    [weights] = [p for p in (tmp_path / "mlartifacts").rglob("model.safetensors")
                 if victim.run_id in (p.parent / "goemo_run.json").read_text()]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, report, err = pull(capsys)
    assert code == 1
    assert [r["run_id"] for r in report["imported"]] == [pushed[1].run_id]
    [refused] = report["refused"]
    assert refused["run_id"] == victim.run_id and "model.safetensors: its SHA-256 differs" in refused["reason"]
    [line] = [line for line in err.splitlines() if line.startswith("refused")]
    assert victim.run_id in line
    runs_dir = RunStore().root
    assert sorted(p.name for p in runs_dir.iterdir()) == [pushed[1].run_id]  # no half-made or hidden folder


def test_experiment_and_since_choose_what_is_pulled(pushed, capsys, monkeypatch):
    code, report, _ = pull(capsys, "--since", (datetime.now() + timedelta(hours=1)).isoformat())
    assert code == 0 and report["imported"] == []
    code, report, _ = pull(capsys, "--experiment", "goemotions-ekman", "--since", "1d")
    assert code == 0 and len(report["imported"]) == 2 and report["experiments"] == ["goemotions-ekman"]
    assert main(["runs", "pull", "--experiment", "nothing-here"]) == 3
    assert "No MLflow experiment 'nothing-here'" in capsys.readouterr().err
    assert main(["runs", "pull", "--since", "last tuesday"]) == 2
    assert "--since" in capsys.readouterr().err
    monkeypatch.delenv("GOEMO_MLFLOW_TRACKING_URI")
    assert main(["runs", "pull"]) == 3
    assert "GOEMO_MLFLOW_TRACKING_URI" in capsys.readouterr().err


def test_since_reads_spans_and_dates():
    now = datetime(2026, 12, 6, 12, 0).astimezone()
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-12-01").date().isoformat() == "2026-12-01"
    with pytest.raises(InvalidConfig):
        parse_since("soon")
