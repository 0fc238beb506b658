"""Tables over run directories: repeats of one recipe pooled over seeds, the leaderboard, recipe identity."""

import numpy as np
import pytest
from conftest import two_recipes_that_disagree


def test_seed_summary_pools_repeats_of_one_recipe(tmp_path):
    from conftest import fake_run

    from goemo_core.results.recipes import recipe_changes
    from goemo_core.results.summary import seed_summary, summarise_runs
    from goemo_core.runs.store import RunStore

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
    assert pooled["test_accuracy_std"] == pytest.approx(np.std([60, 62, 64], ddof=1)) == pytest.approx(2.0)
    assert pooled["test_macro_f1_mean"] == pytest.approx(0.56) and pooled["epoch_seconds"] == pytest.approx(3.0)
    assert pooled["best_epoch_mean"] == 2 and pooled["parameters"] == 1234 and pooled["device"] == "CPU"

    summary = summarise_runs(repeats)
    assert summary["n"] == 3 and summary["runs"] == [r.run_id for r in repeats]
    assert recipe_changes(repeats[0].config) == "" and recipe_changes(wider.config) == "hidden_size=64, epochs=3"
    with pytest.raises(ValueError, match="no.*test metrics|none of these runs"):
        summarise_runs([r for r in store.list() if r.status == "failed"])


def test_leaderboard_keeps_each_architectures_chosen_full_data_recipe(tmp_path):
    from conftest import fake_run

    from goemo_core.results.summary import leaderboard
    from goemo_core.runs.store import RunStore

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

    from goemo_core.results.recipes import recipe_changes
    from goemo_core.results.summary import seed_summary
    from goemo_core.runs.store import RunStore

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
    from goemo_core.results.summary import mean_std, summarise_runs
    from goemo_core.runs.store import RunStore

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
    assert rows["gru"]["test_accuracy_std"] == pytest.approx(np.std([64, 66], ddof=1))  # the sample std
    assert rows["lstm"]["test_accuracy_std"] is None and rows["lstm"]["test_macro_f1_std"] is None
    summary = summarise_runs([first, again])
    assert summary["n"] == 1 and summary["accuracy_mean"] == 64.0 and summary["accuracy_std"] is None
    assert mean_std(62.0, None, 2) == "62.00 (one seed)" and mean_std(65.0, 1.0, 2) == "65.00 ± 1.00"
    assert mean_std(65.0, 1.0, 2, n=2) == "65.00 ± 1.00 (n = 2)"


def test_pareto_front_keeps_only_the_undominated_trade_offs():
    import pandas as pd

    from goemo_core.results.choice import pareto_front

    points = pd.DataFrame({"run": ["small", "mid", "worse-mid", "big", "slow-bad"],
                           "val_accuracy": [60.0, 66.0, 64.0, 68.0, 59.0],
                           "cpu_latency_ms": [1.0, 3.0, 4.0, 20.0, 30.0],
                           "cpu_sentences_per_s": [9000.0, 3000.0, 2500.0, 200.0, 100.0]})
    assert list(pareto_front(points, "cpu_latency_ms")["run"]) == ["small", "mid", "big"]
    assert list(pareto_front(points, "cpu_sentences_per_s", lower_cost_is_better=False)["run"]) == ["big", "mid",
                                                                                                    "small"]


def test_students_are_shown_next_to_their_teachers_selected_or_not(tmp_path):
    from conftest import fake_run

    from goemo_core.results.run_tables import students_and_teachers
    from goemo_core.runs.folder import RunLabel
    from goemo_core.runs.store import RunStore

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


def test_the_recipe_chosen_is_the_best_on_validation_not_on_test(tmp_path, capsys, monkeypatch):
    import json

    from goemo_core.cli import main
    from goemo_core.results.choice import best_run
    from goemo_core.results.summary import leaderboard, seed_summary
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    steady, lucky = two_recipes_that_disagree(store)
    frame = seed_summary(store.list())
    chosen = frame[frame["chosen"]]
    assert len(chosen) == 1 and chosen.iloc[0]["changes"] == "hidden_size=64"
    assert chosen.iloc[0]["val_accuracy_mean"] == pytest.approx(68.0)
    board = leaderboard(store.list())
    assert list(board["changes"]) == ["hidden_size=64"] and board.loc[0, "test_accuracy_mean"] == pytest.approx(66.0)
    assert best_run(store.list()).run_id == steady[1].run_id  # the best single run on validation (68.2)

    assert main(["runs", "summary", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["changes"]: row["chosen"] for row in rows} == {"hidden_size=64": True, "defaults": False}
    assert all({"val_accuracy_mean", "val_macro_f1_mean"} <= set(row) for row in rows)


def test_only_completed_runs_are_pooled_as_seeds(tmp_path):
    from conftest import fake_run

    from goemo_core.results.summary import left_out, seed_summary, summarise_runs
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    done = fake_run(store, "gru", 211, 66.0)
    for seed, status in ((212, "cancelled"), (213, "interrupted"), (214, "failed")):
        fake_run(store, "gru", seed, 90.0, status=status)  # test metrics of a run that did not finish
    summary = summarise_runs(store.list())
    assert summary["runs"] == [done.run_id] and summary["accuracy_mean"] == 66.0
    assert list(seed_summary(store.list())["runs"]) == [1]
    assert sorted(run.status for run in left_out(store.list())) == ["cancelled", "failed", "interrupted"]


def test_the_pareto_front_is_chosen_on_validation():
    import pandas as pd

    from goemo_core.results.choice import pareto_front

    points = pd.DataFrame({"run": ["cheap", "dear"], "cpu_latency_ms": [1.0, 5.0],
                           "val_accuracy": [67.0, 66.0], "test_accuracy": [65.0, 68.0]})
    assert list(pareto_front(points, "cpu_latency_ms")["run"]) == ["cheap"]  # dear is only better on test


def test_runs_compare_reports_differences_that_match_scipy(tmp_path, capsys, monkeypatch):
    import json

    import torch
    from scipy import stats

    from goemo_core.cli import main
    from goemo_core.data.goemotions import EKMAN_CLASSES
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    steady, lucky = two_recipes_that_disagree(store)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 7, 200)
    for run, skill in [*((r, 0.6) for r in steady), *((r, 0.7) for r in lucky)]:
        right = rng.random(200) < skill
        predicted = np.where(right, truth, (truth + 1) % 7)
        probabilities = torch.nn.functional.one_hot(torch.as_tensor(predicted), 7).float() * 0.9 + 0.1 / 7
        run.save_probabilities({"validation": probabilities.clone(), "test": probabilities})
        run.save_test_predictions([str(i) for i in range(200)], ["t"] * 200, truth, probabilities.numpy(),
                                  EKMAN_CLASSES)

    assert main(["runs", "compare", steady[0].run_id, lucky[0].run_id, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    a, b = [66.0, 66.2, 65.8], [67.0, 67.4, 67.2]
    welch = stats.ttest_ind(a, b, equal_var=False)
    seeds = document["seeds"]["accuracy"]
    assert seeds["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert seeds["p_value"] == pytest.approx(welch.pvalue)
    assert seeds["ci"] == pytest.approx(list(welch.confidence_interval(0.95)))
    assert document["seeds"]["macro_f1"]["p_value"] is None  # no spread on either side: no t-test
    paired = document["paired"]["accuracy"]
    pooled = {name: np.mean([r.load_probabilities()["test"].numpy() for r in runs], axis=0).argmax(-1)
              for name, runs in (("a", steady), ("b", lucky))}
    only_a = int(((pooled["a"] == truth) & (pooled["b"] != truth)).sum())
    only_b = int(((pooled["a"] != truth) & (pooled["b"] == truth)).sum())
    assert (paired["only_a_right"], paired["only_b_right"]) == (only_a, only_b)
    assert paired["p_value"] == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    assert paired["difference"] == pytest.approx(((pooled["a"] == truth).mean() - (pooled["b"] == truth).mean()) * 100)
    low, high = paired["ci"]
    assert low <= paired["difference"] <= high
    assert list(EKMAN_CLASSES)  # labels were written by class name and read back by index

    assert main(["runs", "compare", steady[0].run_id, steady[1].run_id]) == 2  # seeds of one recipe
    assert "seeds of one recipe" in capsys.readouterr().err


def test_fewer_than_three_seeds_is_called_underpowered():
    from goemo_core.results.significance import seed_difference, significance_mark

    result = seed_difference([66.0, 67.0], [65.0, 65.5, 66.0])
    assert result["underpowered"] and result["p_value"] is None and "underpowered" in result["note"]
    assert significance_mark(None, True).startswith("underpowered")
    assert significance_mark(0.01, False) == "p = 0.010 *" and significance_mark(0.4, False) == "n.s. (p = 0.40)"
    assert significance_mark(0.00008, False) == "p < 0.001 *"  # never "p = 0.000"


def test_the_leaderboard_marks_differences_that_are_not_significant(tmp_path):
    from conftest import fake_run

    from goemo_core.results.summary import leaderboard
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    for seed, gru, lstm, rwkv in ((211, 67.0, 66.9, 60.0), (212, 67.2, 67.3, 60.2), (213, 66.8, 67.0, 59.8)):
        fake_run(store, "gru", seed, gru, val_accuracy=gru + 1)
        fake_run(store, "lstm", seed, lstm, val_accuracy=lstm)
        fake_run(store, "rwkv", seed, rwkv, val_accuracy=rwkv)
    board = leaderboard(store.list())
    assert list(board["arch"]) == ["gru", "lstm", "rwkv"]
    assert board.loc[0, "vs_best"] == "best on validation"
    assert board.loc[1, "vs_best"].startswith("n.s.") and board.loc[2, "vs_best"].endswith("*")


def test_summary_tables_for_papers(tmp_path, capsys, monkeypatch):
    import csv
    import io
    import re

    from goemo_core.cli import main
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    two_recipes_that_disagree(RunStore())
    assert main(["runs", "summary", "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    body = latex[latex.index("\\toprule"):latex.index("\\bottomrule")]
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 3  # the header and two recipes
    widths = {len(re.split(r"(?<!\\)&", row)) for row in rows}
    assert widths == {8}  # every row has the header's cells; '&' inside a cell would be escaped
    assert "\\begin{tabular}" in latex and "\\end{tabular}" in latex and latex.count("{") == latex.count("}")
    assert "hidden\\_size=64" in latex and "\\checkmark" in latex and "\\textbf{68.00}" in latex
    assert "$\\pm$" in latex and "_" not in latex.replace("\\_", "")

    assert main(["runs", "summary", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("**Task ekman**") and "**67.20 ± 0.20**" in markdown and "validation" in markdown
    assert "sample standard deviation" in markdown and "Holm" in markdown
    assert main(["runs", "summary", "--format", "csv"]) == 0
    table = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert table[0][:4] == ["Architecture", "Task", "Settings", "Seeds"] and len(table) == 3


def multi_label_run(store, seed: int, validation: dict, tuned: bool, history_f1: float | None = None, **settings):
    """A completed goemotions run with the given validation headline; `tuned`: thresholds chosen on validation."""
    from conftest import fake_run

    run = fake_run(store, "gru", seed, 10.0, 0.30, task="goemotions", tune_thresholds=tuned, **settings)
    metrics = {**run.metrics, "validation": validation,
               "decision": {"rule": "threshold", "tuned_on": "validation" if tuned else None, "thresholds": {}}}
    run.write_json("metrics.json", metrics)
    if history_f1 is not None:  # the history is validated at the fixed threshold
        run.write_history([{"epoch": 1, "val_accuracy": 9.0, "val_macro_f1": history_f1 - 0.1},
                           {"epoch": 2, "val_accuracy": 9.0, "val_macro_f1": history_f1, "best": True}])
    return run


def test_tuned_thresholds_do_not_win_the_choice_by_construction(tmp_path):
    from goemo_core.results.summary import seed_summary
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    for seed in (211, 212, 213):  # flattered by thresholds fitted on validation; worse at the fixed threshold
        multi_label_run(store, seed, {"accuracy": 12.0, "macro_f1": 0.60, "accuracy_fixed": 10.0,
                                      "macro_f1_fixed": 0.40}, tuned=True)
        multi_label_run(store, seed, {"accuracy": 11.0, "macro_f1": 0.50}, tuned=False, lr=0.001)
    frame = seed_summary(store.list())
    chosen = frame[frame["chosen"]].iloc[0]
    assert chosen["changes"] == "lr=0.001" and chosen["val_macro_f1_mean"] == pytest.approx(0.50)
    assert frame[~frame["chosen"]].iloc[0]["val_macro_f1_mean"] == pytest.approx(0.40)


def test_an_older_tuned_run_is_judged_by_its_fixed_threshold_history(tmp_path):
    from goemo_core.results.choice import validation_of
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    older = multi_label_run(store, 211, {"accuracy": 12.0, "macro_f1": 0.60}, tuned=True, history_f1=0.35)
    assert validation_of(older) == (9.0, pytest.approx(0.35))
    untuned = multi_label_run(store, 212, {"accuracy": 12.0, "macro_f1": 0.60}, tuned=False, history_f1=0.35)
    assert validation_of(untuned) == (12.0, 0.60)  # not tuned: its headline is the fixed-threshold figure


def test_best_run_ranks_multi_label_runs_by_macro_f1_first(tmp_path):
    from goemo_core.results.choice import best_run
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    exact = multi_label_run(store, 211, {"accuracy": 30.0, "macro_f1": 0.20}, tuned=False)
    balanced = multi_label_run(store, 212, {"accuracy": 20.0, "macro_f1": 0.45}, tuned=False)
    assert best_run([exact, balanced]).run_id == balanced.run_id
    assert best_run([balanced, exact]).run_id == balanced.run_id


def test_a_run_without_macro_f1_is_pooled_over_the_seeds_that_have_it(tmp_path, capsys, monkeypatch):
    import json

    from conftest import fake_run

    from goemo_core.cli import main
    from goemo_core.results.summary import seed_summary, summarise_runs
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    runs = [fake_run(RunStore(), "gru", seed, acc, f1) for seed, acc, f1 in
            ((211, 60.0, 0.50), (212, 62.0, 0.56), (213, 64.0, 0.60))]
    runs[2].write_json("metrics.json", {k: v for k, v in runs[2].metrics.items() if k != "macro_f1"})
    summary = summarise_runs(runs)
    assert summary["n"] == 3 and summary["n_by_metric"] == {"macro_f1": 2}
    assert summary["macro_f1_mean"] == pytest.approx(0.53)
    assert summary["macro_f1_std"] == pytest.approx(np.std([0.50, 0.56], ddof=1))
    assert summary["accuracy_std"] == pytest.approx(2.0)
    assert seed_summary(runs).loc[0, "n_by_metric"] == {"macro_f1": 2}
    assert main(["runs", "summary"]) == 0
    out = capsys.readouterr().out
    assert "0.530 ± 0.042 (n = 2)" in out and "62.00 ± 2.00" in out and "sample standard deviation" in out
    assert main(["runs", "summary", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["test_macro_f1_std"] == pytest.approx(np.std([0.50, 0.56], ddof=1)) and row["std"].startswith("sample")


def test_each_recipe_tested_against_the_best_is_holm_adjusted(tmp_path):
    from statsmodels.stats.multitest import multipletests

    from conftest import fake_run

    from goemo_core.results.significance import seed_difference
    from goemo_core.results.summary import seed_summary
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    accuracies = {"gru": (67.0, 67.4, 67.2), "lstm": (66.0, 66.5, 66.2), "rwkv": (66.9, 66.4, 67.3)}
    for arch, values in accuracies.items():
        for seed, acc in zip((211, 212, 213), values):
            fake_run(store, arch, seed, acc, val_accuracy=acc + (1 if arch == "gru" else 0))
    frame = seed_summary(store.list()).set_index("arch")
    raw = [seed_difference(accuracies[arch], accuracies["gru"])["p_value"] for arch in ("lstm", "rwkv")]
    adjusted = multipletests(raw, method="holm")[1]
    assert frame.loc["gru", "vs_best"] == "best on validation"
    for arch, p_value in zip(("lstm", "rwkv"), adjusted):
        shown = frame.loc[arch, "vs_best"]
        assert (f"p = {p_value:.3f} *" if p_value < 0.05 else f"n.s. (p = {p_value:.2f})") == shown
    assert adjusted[0] > raw[0]  # the correction raised the smallest p-value of the family


def test_identical_seeds_give_no_test_and_no_scipy_warning(recwarn):
    from goemo_core.results.significance import seed_difference

    nearly = seed_difference([66.0, 66.0, 66.0 + 1e-13], [65.0, 65.0, 65.0])
    assert nearly["p_value"] is None and "undefined" in nearly["note"]
    missing = seed_difference([66.0, None, 66.5, 67.0], [65.0, 65.2, float("nan"), 65.1])
    assert missing["n"] == [3, 3] and missing["p_value"] is not None
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_the_paired_bootstrap_p_value_is_floored_and_printed_below_three_decimals():
    from goemo_core.results.significance import format_p, paired_difference, significance_mark

    truth = np.arange(700) % 7
    better = truth.copy()
    worse = np.where(np.arange(700) % 2 == 0, truth, (truth + 1) % 7)  # half wrong
    result = paired_difference(truth, better, worse, 7, samples=200)
    assert result["macro_f1"]["p_value"] == pytest.approx(1 / 201) == result["macro_f1"]["p_floor"]
    assert format_p(result["macro_f1"]["p_value"]) == "p = 0.005" and format_p(1 / 2001) == "p < 0.001"
    assert format_p(0.0004, named=False) == "< 0.001" and significance_mark(1e-6, False) == "p < 0.001 *"


def two_tasks_and_two_sources(store):
    """Ekman recipes on two data sources (otherwise the same) and goemotions recipes whose figures would win any
    bold cell a table shared across tasks."""
    from conftest import fake_run

    for seed, acc in ((211, 66.0), (212, 66.4), (213, 66.2)):
        fake_run(store, "gru", seed, acc, 0.58)
        other = fake_run(store, "gru", seed, acc - 1, 0.55, limit=2000)
        config = other.config
        other.write_json("config.json", {**config, "limit": None, "data_source": "local folder /elsewhere"})
        fake_run(store, "lstm", seed, 99.0, 0.254, task="goemotions", val_accuracy=98.0, val_macro_f1=0.30)
        fake_run(store, "gru", seed, 12.0, 0.20, task="goemotions", limit=2000)


def test_paper_tables_are_per_task_with_the_tasks_own_columns_and_numbers_in_csv(tmp_path):
    import csv
    import io

    from goemo_core.results.summary import seed_summary
    from goemo_core.results.tables import paper_table
    from goemo_core.runs.store import RunStore

    store = RunStore(tmp_path)
    two_tasks_and_two_sources(store)
    summary = seed_summary(store.list())
    markdown = paper_table(summary, "markdown")
    ekman, multi = markdown.split("**Task goemotions**")
    assert "**Task ekman**" in ekman and "Test acc. (%)" in ekman and "exact match" not in ekman
    assert "| Architecture | Settings | Seeds | Val. macro-F1 | Test macro-F1 | Test exact match (%) |" in multi
    assert "**66.20 ± 0.20**" in ekman and "**0.254 ± 0.000**" in multi  # bold per task, not across tasks
    assert "99.00" in multi and "**99.00" in multi  # the best exact match of its own task only
    assert "limit 2,000" in multi and "2000.0" not in markdown
    settings = [line.split(" | ")[1] for line in ekman.splitlines() if line.startswith("| gru")]
    assert len(settings) == len(set(settings)) == 2 and any("/elsewhere" in s for s in settings)
    latex = paper_table(summary, "latex")
    assert latex.count("\\begin{tabular}") == 2 and "Test exact match (\\%)" in latex
    table = list(csv.DictReader(io.StringIO(paper_table(summary, "csv"))))
    assert {row["Task"] for row in table} == {"ekman", "goemotions"} and len(table) == 4
    for row in table:
        float(row["Test accuracy mean (%)"]) and float(row["Test macro-F1 mean"])  # numbers, not "66.20 ± 0.20"
        assert row["Accuracy measure"] == ("exact-match accuracy" if row["Task"] == "goemotions" else "accuracy")
    assert [float(row["Test accuracy std (%)"]) for row in table if row["Task"] == "ekman"] == pytest.approx([0.2] * 2)


def test_runs_summary_is_split_by_task_and_heads_multi_label_rows_by_macro_f1(tmp_path, capsys, monkeypatch):
    import json

    from goemo_core.cli import main
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    two_tasks_and_two_sources(RunStore())
    assert main(["runs", "summary"]) == 0
    out, err = capsys.readouterr()
    ekman, multi = out.split("task goemotions")
    assert ekman.startswith("task ekman") and "test acc (%)" in ekman
    header = multi.splitlines()[1]
    assert header.index("test macro-F1") < header.index("exact match (%)")
    assert "limit 2,000" in multi and "2000.0" not in out and "limit=" not in out
    assert "monitor" not in out and "soft_labels" not in out  # the task's own recipe is no change
    assert "RuntimeWarning" not in err
    assert main(["runs", "summary", "--task", "goemotions", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["task"] for row in rows} == {"goemotions"} and {row["limit"] for row in rows} == {None, 2000}


def test_runs_compare_on_multi_label_runs_says_why_there_is_no_paired_test(tmp_path, capsys, monkeypatch):
    import torch

    from conftest import fake_run

    from goemo_core.cli import main
    from goemo_core.runs.store import RunStore

    monkeypatch.setenv("GOEMO_HOME", str(tmp_path))
    store = RunStore()
    runs = [fake_run(store, "gru", seed, 10.0 + seed % 3, 0.30 + seed % 3 / 100, task="goemotions", lr=lr)
            for seed in (211, 212, 213) for lr in (0.002, 0.001)]
    for run in runs:  # the predictions are stored, as a multi-label run stores them
        probabilities = torch.rand(20, 28)
        run.save_probabilities({"validation": probabilities.clone(), "test": probabilities})
        run.save_test_predictions([str(i) for i in range(20)], ["t"] * 20, (probabilities > 0.5).int().numpy(),
                                  probabilities.numpy(), [str(i) for i in range(28)], [0.3] * 28)
    assert main(["runs", "compare", runs[0].run_id, runs[1].run_id]) == 0
    out = capsys.readouterr().out
    assert "not stored" not in out and "not for a multi-label task" in out and "over seeds" in out
    lines = out.splitlines()
    assert lines[0].split(": ", 2)[2].startswith("macro-F1")  # the task's headline first
    assert lines[3].lstrip().startswith("macro-F1") and "exact-match accuracy" in lines[4]


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03, 0.2], [0.5, 0.6], [0.001], [0.3, 0.3, 0.01, 0.9, 0.02]])
def test_holm_equals_statsmodels_and_keeps_untested_as_none(p_values):
    from statsmodels.stats.multitest import multipletests

    from goemo_core.results.significance import holm

    expected = multipletests(p_values, method="holm")[1]
    family = [None, *p_values[:1], float("nan"), *p_values[1:]]
    adjusted = holm(family)
    assert adjusted[0] is None and adjusted[2] is None
    assert [adjusted[1], *adjusted[3:]] == pytest.approx(list(expected))
    assert holm([]) == [] and holm([None]) == [None]
