"""The pages' part of working beyond one machine: the Train page adds cells to a grid for workers instead of
training, the Tune page shows a grid's cells as its study holds them, and Home and Compare pull runs from MLflow and
say where each run was trained."""

from __future__ import annotations

import optuna
import pytest
from conftest import page_file, whole_run
from streamlit.testing.v1 import AppTest

from goemo_core import tune
from goemo_core.bench.grid import cell_rows, enqueue_grid, grid_cells, open_grid
from goemo_core.cli import main
from goemo_core.runs.store import RunStore

TIMEOUT = 90


def page(name: str) -> AppTest:
    return AppTest.from_file(str(page_file(name)), default_timeout=TIMEOUT)


@pytest.fixture(autouse=True)
def fresh_storages():
    yield
    tune.close_storages()


def test_the_train_page_adds_cells_to_a_grid_instead_of_training(fresh_manager):
    at = page("train.py").run()
    at.multiselect(key="train_archs").set_value(["gru", "lstm"]).run()
    at.number_input(key="p-gru-hidden_size").set_value(16)
    at.number_input(key="train_limit").set_value(200)
    at.number_input(key="r-epochs").set_value(1)
    at.number_input(key="train_repeats").set_value(2)
    at.toggle(key="train_on_workers").set_value(True).run()
    assert not at.button(key="train_enqueue").disabled
    at.text_input(key="train_grid_name").set_value("from-the-form")
    at.button(key="train_enqueue").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Added 4 of 4 cells" in s.value for s in at.success)
    assert not fresh_manager().jobs()  # nothing trains here
    rows = cell_rows(open_grid("from-the-form", create=False))
    assert sorted((r["arch"], r["seed"]) for r in rows) == [("gru", 211), ("gru", 212), ("lstm", 211), ("lstm", 212)]
    gru = next(r for r in rows if r["arch"] == "gru")
    assert "hidden_size=16" in gru["changes"] and "limit=200" in gru["changes"] and "epochs=1" in gru["changes"]
    assert "device" not in gru["changes"]  # each worker trains on its own device
    at.button(key="train_enqueue").click().run()
    assert any("Added 0 of 4 cells" in s.value for s in at.success)


def test_the_tune_page_shows_a_grids_cells_apart_from_the_studies(fresh_manager):
    enqueue_grid("grid-a", grid_cells(["gru", "lstm"], [211], None, {"limit": 200}))
    study = open_grid("grid-a", create=False)
    first = study.get_trials(deepcopy=False)[0]
    study._storage.set_trial_state_values(first._trial_id, optuna.trial.TrialState.RUNNING)
    study._storage.set_trial_user_attr(first._trial_id, "worker", "box-1:42")
    study.tell(first.number, 55.5)
    at = page("tune.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="tune_grid").value == "grid-a"
    assert all(box.key != "tune_study" or "grid-a" not in box.options for box in at.selectbox)  # not a tuning study
    shown = {m.label: m.value for m in at.metric}
    assert (shown["done"], shown["waiting"], shown["running"], shown["failed"]) == ("1", "1", "0", "0")
    cells = next(df.value for df in at.dataframe if "attempts" in df.value.columns)
    assert list(cells["state"]) == ["done", "waiting"] and cells.loc[0, "worker"] == "box-1:42"
    assert cells.loc[0, "value"] == 55.5


def test_home_and_compare_pull_from_mlflow_and_say_where_runs_were_trained(fresh_manager, tmp_path, monkeypatch):
    monkeypatch.setenv("GOEMO_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("GOEMO_HOME", str(tmp_path / "elsewhere"))
    trained = whole_run(RunStore())
    assert main(["runs", "push", trained.run_id]) == 0
    monkeypatch.setenv("GOEMO_HOME", str(tmp_path / "laptop"))

    compare = page("compare.py").run()
    assert any("No runs yet" in i.value for i in compare.info)
    compare.button(key="compare_pull-pull").click().run()
    assert not compare.exception
    assert any("pulled 1 run(s)" in s.value for s in compare.success)
    table = next(df.value for df in compare.dataframe if "run_id" in df.value.columns)
    row = table.set_index("run_id").loc[trained.run_id]
    assert (row["source"], row["host"], row["device"]) == ("MLflow", trained.owner["host"], "CPU")

    whole_run(RunStore(), "lstm")  # one trained here too
    home = page("home.py").run()
    assert not home.exception
    where = next(df.value for df in home.dataframe if "pulled" in df.value.columns)
    assert list(where["runs"]) == [2] and list(where["pulled"]) == [1] and list(where["device"]) == ["CPU"]
    home.button(key="home_pull-pull").click().run()
    assert any("pulled 0 run(s)" in s.value and "skipped 1" in s.value for s in home.success)


def test_the_tune_page_shows_where_the_grid_of_this_folder_stands(fresh_manager, monkeypatch):
    import threading

    from goemo_core.training.config import make_config
    from goemo_core.training.run import train_run

    monkeypatch.delenv("GOEMO_PRETRAINED", raising=False)  # no encoder: the transformer is not offered by default
    tiny = {"limit": 120, "epochs": 2}
    done = train_run(make_config("gru", {**tiny, "seed": 211})).run
    cancel = threading.Event()
    stopped = train_run(make_config("gru", {**tiny, "seed": 212}), on_epoch=lambda record: cancel.set(),
                        cancel=cancel).run
    at = page("tune.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "transformer" not in at.multiselect(key="folder_grid_archs").value
    # the grid of these runs: the recipe's epochs and limit are the runs' own, so the page's grid is another
    shown = {m.label: m.value for m in at.metric}
    assert shown["runs done"] == "0" and int(shown["runs to train"]) == 3 * len(
        at.multiselect(key="folder_grid_archs").value)
    at.multiselect(key="folder_grid_archs").set_value(["gru"]).run()
    at.number_input(key="folder_grid_limit").set_value(120)
    at.number_input(key="folder_grid_epochs").set_value(2).run()
    assert not at.error, [e.value for e in at.error]
    table = next(df.value for df in at.dataframe if "epochs_done" in df.value.columns)
    assert list(table["state"]) == ["done", "stopped part-way", "to train"]
    assert list(table["run"])[:2] == [done.run_id, stopped.run_id] and list(table["epochs_done"]) == [2, 1, 0]
    shown = {m.label: m.value for m in at.metric}
    assert (shown["runs done"], shown["runs stopped part-way"], shown["runs to train"]) == ("1", "1", "1")
    assert any("--limit 120 --epochs 2" in c.value for c in at.caption)
    at.multiselect(key="folder_grid_archs").set_value(["transformer"]).run()
    assert any("encoder" in e.value or "pretrained" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert not at.exception
