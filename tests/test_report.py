"""Tables over run directories: repeats of one recipe pooled over seeds, the leaderboard, recipe identity."""

import numpy as np
import pytest


def test_seed_summary_pools_repeats_of_one_recipe(tmp_path):
    from conftest import fake_run
    from goemo_core.report import recipe_changes, seed_summary, summarise_runs
    from goemo_core.runs import RunStore

    store = RunStore(tmp_path)
    repeats = [fake_run(store, "gru", seed, acc, f1) for seed, acc, f1 in
               ((211, 60.0, 0.50), (212, 62.0, 0.56), (213, 64.0, 0.62))]
    wider = fake_run(store, "gru", 211, 66.0, 0.60, params={"hidden_size": 64}, epochs=3)
    fake_run(store, "lstm", 211, None)  # failed: no test metrics, left out

    older = repeats[0].config  # trained before `pooling` existed: it counts at its default
    older["params"].pop("pooling")
    repeats[0].write_json("config.json", older)

    frame = seed_summary(store.list())
    assert len(frame) == 2
    best, pooled = frame.iloc[0], frame.iloc[1]
    assert best["changes"] == "hidden_size=64, epochs=3" and best["runs"] == 1
    assert pooled["changes"] == "defaults" and pooled["runs"] == 3 and pooled["seeds"] == [211, 212, 213]
    assert pooled["test_accuracy_mean"] == pytest.approx(62.0)
    assert pooled["test_accuracy_std"] == pytest.approx(np.std([60, 62, 64]))
    assert pooled["test_macro_f1_mean"] == pytest.approx(0.56) and pooled["epoch_seconds"] == pytest.approx(3.0)
    assert pooled["best_epoch_mean"] == 2 and pooled["parameters"] == 1234 and pooled["device"] == "CPU"

    summary = summarise_runs(repeats)
    assert summary["n"] == 3 and summary["runs"] == [r.run_id for r in repeats]
    assert recipe_changes(repeats[0].config) == "" and recipe_changes(wider.config) == "hidden_size=64, epochs=3"
    with pytest.raises(ValueError, match="no.*test metrics|none of these runs"):
        summarise_runs([r for r in store.list() if r.status == "failed"])


def test_leaderboard_keeps_each_architectures_best_full_data_recipe(tmp_path):
    from conftest import fake_run
    from goemo_core.report import leaderboard
    from goemo_core.runs import RunStore

    store = RunStore(tmp_path)
    for seed, acc in ((211, 66.0), (212, 67.0)):
        fake_run(store, "gru", seed, acc)
    fake_run(store, "gru", 211, 65.0, params={"hidden_size": 64})
    fake_run(store, "lstm", 211, 64.0)
    fake_run(store, "lstm", 211, 90.0, limit=100)  # a quick run on 100 examples is no result
    board = leaderboard(store.list())
    assert list(board["arch"]) == ["gru", "lstm"]
    assert board.loc[0, "test_accuracy_mean"] == pytest.approx(66.5) and board.loc[0, "runs"] == 2
    assert board.loc[1, "test_accuracy_mean"] == pytest.approx(64.0)


def test_a_recipe_option_added_later_counts_as_off_for_older_runs(tmp_path):
    from conftest import fake_run
    from goemo_core.report import recipe_changes, seed_summary
    from goemo_core.runs import RunStore

    store = RunStore(tmp_path)
    current = fake_run(store, "gru", 211, 67.0)
    older = fake_run(store, "gru", 212, 66.0)
    config = older.config
    del config["ema_decay"]  # written before the moving average existed: trained without it
    older.write_json("config.json", config)
    assert current.config["ema_decay"] > 0 and recipe_changes(current.config) == ""
    assert recipe_changes(older.config) == "ema_decay=0.0"
    assert sorted(seed_summary(store.list())["changes"]) == ["defaults", "ema_decay=0.0"]


def test_a_seed_counts_once_and_one_seed_has_no_spread(tmp_path, capsys, monkeypatch):
    import json

    from conftest import fake_run
    from goemo_core.cli import main
    from goemo_core.report import mean_std, summarise_runs
    from goemo_core.runs import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    first = fake_run(store, "gru", 211, 60.0)
    again = fake_run(store, "gru", 211, 64.0)  # the same recipe and seed trained again: it replaces the first
    fake_run(store, "gru", 212, 66.0)
    fake_run(store, "lstm", 211, 62.0)
    config = again.config
    config["created"] = "2999-01-01 00:00:00"  # certainly the later one
    again.write_json("config.json", config)

    assert main(["runs", "summary", "--json"]) == 0
    rows = {row["arch"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["gru"]["seeds"] == [211, 212] and rows["gru"]["runs"] == 2
    assert rows["gru"]["test_accuracy_mean"] == pytest.approx(65.0)  # 64 and 66: the first 211 run is replaced
    assert rows["gru"]["test_accuracy_std"] == pytest.approx(1.0)
    assert rows["lstm"]["test_accuracy_std"] is None and rows["lstm"]["test_macro_f1_std"] is None
    summary = summarise_runs([first, again])
    assert summary["n"] == 1 and summary["accuracy_mean"] == 64.0 and summary["accuracy_std"] is None
    assert mean_std(62.0, None, 2) == "62.00 (one seed)" and mean_std(65.0, 1.0, 2) == "65.00 ± 1.00"


def test_pareto_front_keeps_only_the_undominated_trade_offs():
    import pandas as pd

    from goemo_core.report import pareto_front

    points = pd.DataFrame({"run": ["small", "mid", "worse-mid", "big", "slow-bad"],
                           "test_accuracy": [60.0, 66.0, 64.0, 68.0, 59.0],
                           "cpu_latency_ms": [1.0, 3.0, 4.0, 20.0, 30.0],
                           "cpu_sentences_per_s": [9000.0, 3000.0, 2500.0, 200.0, 100.0]})
    assert list(pareto_front(points, "cpu_latency_ms")["run"]) == ["small", "mid", "big"]
    assert list(pareto_front(points, "cpu_sentences_per_s", lower_cost_is_better=False)["run"]) == ["big", "mid",
                                                                                                    "small"]


def test_students_are_shown_next_to_their_teachers_selected_or_not(tmp_path):
    from conftest import fake_run
    from goemo_core.report import students_and_teachers
    from goemo_core.runs import RunLabel, RunStore

    store = RunStore(tmp_path)
    teacher = fake_run(store, "lstm", 211, 68.0, 0.61)
    teacher.set_label(RunLabel.clean("big teacher", "", ""))
    student = fake_run(store, "gru", 211, 67.5, 0.60, teachers=[teacher.run_id, "gru-20000101-000000-gone"])
    plain = fake_run(store, "gru", 212, 67.0, 0.59)

    frame = students_and_teachers([student, plain], store.list())  # the teacher itself is not selected
    assert list(frame["teacher"]) == ["big teacher", "gru-20000101-000000-gone (deleted)"]
    assert list(frame["student"]) == [student.run_id] * 2
    first, gone = frame.iloc[0], frame.iloc[1]
    assert first["student_accuracy"] == 67.5 and first["teacher_accuracy"] == 68.0
    assert first["teacher_macro_f1"] == 0.61 and first["accuracy_gap"] == pytest.approx(-0.5)
    assert np.isnan(gone["teacher_accuracy"]) and np.isnan(gone["accuracy_gap"])
    assert students_and_teachers([plain, teacher], store.list()).empty
