"""Degenerate models: flagged wherever they are shown and never chosen while another model is not."""

from __future__ import annotations

import pytest
from conftest import PRETRAINED_DIR, fake_run, with_predictions

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


def test_a_teacher_given_as_best_arch_is_that_architectures_best_run_on_validation():
    from goemo_core.errors import InvalidConfig
    from goemo_core.results.choice import best_marks, resolve_best, resolve_teachers

    def encoder(store, *args, **settings):  # a fine-tuned encoder's run
        return fake_run(store, "transformer", *args, pretrained=str(PRETRAINED_DIR), **settings)

    store = RunStore()
    lower = encoder(store, 211, 70.0, val_accuracy=68.9)
    higher = encoder(store, 212, 68.0, val_accuracy=69.4)  # test never chooses
    encoder(store, 213, 75.0, val_accuracy=80.0, limit=300)  # other data
    encoder(store, 214, 75.0, val_accuracy=81.0, task="goemotions")  # other task
    encoder(store, 215, None)  # failed
    fake_run(store, "gru", 211, 75.0, val_accuracy=82.0)  # other architecture
    encoder(store, 216, 76.0, val_accuracy=83.0, teachers=[higher.run_id])  # a student
    lazy = with_predictions(encoder(store, 217, 37.8, val_accuracy=90.0), ["joy"])
    runs = store.list()

    run_id, why = resolve_best("best:transformer", runs)
    assert run_id == higher.run_id and run_id != lazy.run_id
    assert why == (f"best:transformer is {higher.run_id}, the best on validation of 3 completed transformer runs "
                   "(accuracy 69.40 %, macro-F1 0.500)")
    assert resolve_best(lower.run_id, runs) == (lower.run_id, "")  # a run id is kept as given
    assert resolve_best("best:transformer", runs, limit=300)[0] != higher.run_id
    said = []
    assert resolve_teachers([lower.run_id, "best:transformer"], runs, log=said.append) == [lower.run_id,
                                                                                            higher.run_id]
    assert said == [why]
    marks = best_marks(runs)  # what the Train page's teacher picker marks: one run per architecture, task and data
    assert marks[higher.run_id] == "best transformer on validation" and lower.run_id not in marks
    assert len(marks) == 4  # the full-data, limit-300 and goemotions transformers, and the BiGRU
    with pytest.raises(InvalidConfig, match="best:rwkv: no completed rwkv run on ekman with the full data"):
        resolve_best("best:rwkv", runs)
    with pytest.raises(InvalidConfig, match="no completed gru run on goemotions with limit 50"):
        resolve_best("best:gru", runs, task="goemotions", limit=50)
