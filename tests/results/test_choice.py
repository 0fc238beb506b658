"""Degenerate models: flagged wherever they are shown and never chosen while another model is not."""

from __future__ import annotations

from conftest import fake_run, with_predictions

from goemo_core.data.goemotions import EKMAN_CLASSES
from goemo_core.results.choice import best_run, degenerate, majority_baseline, predicted_classes
from goemo_core.results.run_tables import comparison_table, describe_run
from goemo_core.results.summary import leaderboard, seed_summary
from goemo_core.runs.store import RunStore


def test_a_model_predicting_one_or_two_classes_or_no_better_than_the_majority_is_degenerate():
    store = RunStore()
    joy_only = with_predictions(fake_run(store, "gru", 211, 37.8, val_accuracy=50.0), ["joy"])
    two = with_predictions(fake_run(store, "gru", 212, 45.0, val_accuracy=50.0), ["joy", "neutral"])
    at_majority = with_predictions(fake_run(store, "lstm", 211, 40.0, val_accuracy=37.79),
                                   ["joy", "neutral", "anger"], majority=37.79)
    below_test_share = with_predictions(fake_run(store, "lstm", 212, 40.0, val_accuracy=37.0),
                                        ["joy", "neutral", "anger"])
    good = with_predictions(fake_run(store, "lstm", 213, 60.0, val_accuracy=61.0), list(EKMAN_CLASSES))

    assert predicted_classes(joy_only.metrics, EKMAN_CLASSES) == ["joy"]
    assert degenerate(joy_only) == "predicts only joy on test"
    assert degenerate(two) == "predicts only joy and neutral on test"
    assert degenerate(at_majority) == ("no better on validation (37.79 %) than always answering joy (37.79 %)")
    label, share, split = majority_baseline(below_test_share.metrics, EKMAN_CLASSES)  # none recorded: test's
    assert (label, round(share, 1), split) == ("joy", 37.8, "test")
    assert degenerate(below_test_share).endswith("than always answering joy (37.75 % of test)")
    assert degenerate(good) is None
    assert degenerate(fake_run(store, "gru", 214, 50.0)) is None  # nothing to tell from: not flagged


def test_a_degenerate_model_is_never_crowned_while_another_is_not():
    store = RunStore()
    # the degenerate recipe is the best on validation; the other is worse but a real model
    lazy = [with_predictions(fake_run(store, "gru", seed, 37.8, val_accuracy=70.0), ["joy"]) for seed in (1, 2)]
    real = [with_predictions(fake_run(store, "gru", seed, 55.0, val_accuracy=56.0, params={"hidden_size": 64}),
                             list(EKMAN_CLASSES)) for seed in (1, 2)]
    runs = store.list()
    assert best_run(runs).run_id in {run.run_id for run in real}  # Classify's default
    summary = seed_summary(runs)
    chosen = summary[summary["chosen"]]
    assert len(chosen) == 1 and chosen.iloc[0]["run_ids"] == [r.run_id for r in real]
    assert chosen.iloc[0]["vs_best"] == "best on validation" and chosen.iloc[0]["warning"] == ""
    flagged = summary[~summary["chosen"]].iloc[0]
    assert flagged["warning"] == "degenerate: predicts only joy on test"
    assert len(leaderboard(runs)) == 1

    table = comparison_table(runs).set_index("run_id")
    assert table.loc[lazy[0].run_id, "warning"] == "predicts only joy on test"
    assert table.loc[real[0].run_id, "warning"] == ""
    assert describe_run(lazy[0]).endswith("⚠ predicts only joy on test")
    assert "⚠" not in describe_run(real[0])

    for run in real:  # with nothing else, the degenerate recipe is chosen, and says so
        run.set_status("failed")
    board = leaderboard(store.list())
    assert len(board) == 1 and board.iloc[0]["warning"].startswith("degenerate: predicts only joy")
    assert best_run(store.list()).run_id in {run.run_id for run in lazy}


def test_a_recipe_with_some_degenerate_seeds_says_how_many():
    store = RunStore()
    with_predictions(fake_run(store, "gru", 1, 37.8, val_accuracy=50.0), ["joy"])
    with_predictions(fake_run(store, "gru", 2, 55.0, val_accuracy=56.0), list(EKMAN_CLASSES))
    [row] = seed_summary(store.list()).to_dict("records")
    assert row["warning"] == "degenerate: predicts only joy on test (1 of 2 seeds)"
