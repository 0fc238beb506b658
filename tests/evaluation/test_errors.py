"""Error analysis of one run from its stored predictions: the most confident wrong predictions (single- and
multi-label, filtered), slices by length, raw label count and the tie rule, and `runs errors`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scored_runs import scored_run

from goemo_core.cli import main
from goemo_core.data.goemotions import GOEMOTIONS_LABELS, decided_by_tie, primary_label
from goemo_core.errors import MissingResource
from goemo_core.evaluation.errors import confident_errors, error_report, error_slices, prediction_table
from goemo_core.evaluation.stored import evaluation_examples
from goemo_core.runs.store import RunStore


def ids_of(*names: str) -> list[int]:
    return [GOEMOTIONS_LABELS.index(name) for name in names]


def test_the_tie_rule_is_said_to_decide_only_when_groups_tie():
    assert decided_by_tie(ids_of("anger", "joy"))  # one each: anger wins by coming first
    assert primary_label(ids_of("anger", "joy")) == 0
    assert not decided_by_tie(ids_of("anger", "annoyance", "joy"))  # anger group 2, joy 1
    assert not decided_by_tie(ids_of("joy"))
    assert not decided_by_tie(ids_of("amusement", "joy"))  # both joy: one group, nothing to break
    assert decided_by_tie(ids_of("fear", "sadness", "neutral"))


def test_confident_errors_are_the_wrong_predictions_most_confident_first_and_filter_by_class():
    run, targets, probabilities = scored_run(RunStore(), skill=1.0)
    classes = run.config["classes"]
    errors = confident_errors(run, top=1000)
    wrong = probabilities["test"].argmax(-1) != targets["test"]
    assert len(errors) == wrong.sum() and (errors["true"] != errors["predicted"]).all()
    assert errors["confidence"].is_monotonic_decreasing
    top = errors.iloc[0]
    assert top["confidence"] == pytest.approx(probabilities["test"][wrong].max(-1).max(), abs=1e-4)
    row = list(prediction_table(run)["id"]).index(top["id"])
    assert top["p_true"] == pytest.approx(probabilities["test"][row, classes.index(top["true"])], abs=1e-6)
    joy_as_neutral = confident_errors(run, true="joy", predicted="neutral", top=1000)
    predicted = probabilities["test"].argmax(-1)
    expected = (targets["test"] == classes.index("joy")) & (predicted == classes.index("neutral"))
    assert len(joy_as_neutral) == expected.sum() > 0
    assert set(joy_as_neutral["true"]) == {"joy"} and set(joy_as_neutral["predicted"]) == {"neutral"}
    assert len(confident_errors(run, top=5)) == 5
    with pytest.raises(MissingResource, match="not a label"):
        confident_errors(run, true="rage")


def test_multi_label_errors_are_wrong_label_decisions():
    run, targets, probabilities = scored_run(RunStore(), task="ekman-multilabel", skill=2.0)
    errors = confident_errors(run, top=100_000)
    decided = probabilities["test"] >= 0.3
    assert len(errors) == (decided != targets["test"].astype(bool)).sum()  # every wrong (example, label) decision
    assert set(errors["error"]) == {"false positive", "false negative"}
    positives = errors[errors["error"] == "false positive"]
    assert (positives["probability"] >= 0.3).all() and (positives["confidence"] == positives["probability"]).all()
    negatives = errors[errors["error"] == "false negative"]
    assert (negatives["probability"] < 0.3).all()
    assert np.allclose(negatives["confidence"], 1 - negatives["probability"])
    assert errors["confidence"].is_monotonic_decreasing
    sad = confident_errors(run, true="sadness", top=100_000)
    assert len(sad) and all("sadness" in cell for cell in sad["true"])


def test_slices_partition_the_test_split_and_the_tie_slice_is_computed_from_the_data():
    run, targets, probabilities = scored_run(RunStore(), skill=1.0)
    slices = error_slices(run)
    whole = slices.iloc[0]
    wrong = int((probabilities["test"].argmax(-1) != targets["test"]).sum())
    assert whole["bucket"] == "all" and whole["examples"] == len(targets["test"]) and whole["errors"] == wrong
    assert whole["accuracy"] == pytest.approx(run.metrics["accuracy"])
    assert whole["macro_f1"] == pytest.approx(run.metrics["macro_f1"])
    for kind in ("length", "raw labels", "tie rule"):
        part = slices[slices["slice"] == kind]
        assert part["examples"].sum() == len(targets["test"]) and part["errors"].sum() == wrong
        assert part["error_share"].sum() == pytest.approx(1.0)
    raw = evaluation_examples(run.config)["test"]["labels"]
    ties = np.array([decided_by_tie(ids) for ids in raw])
    tie_row = slices[(slices["slice"] == "tie rule") & (slices["bucket"] == "decided by the tie rule")].iloc[0]
    predicted_right = probabilities["test"].argmax(-1) == targets["test"]
    assert tie_row["examples"] == ties.sum() > 0
    assert tie_row["accuracy"] == pytest.approx(predicted_right[ties].mean() * 100)
    counts = slices[slices["slice"] == "raw labels"].set_index("bucket")["examples"]
    assert counts["1 label"] == sum(len(ids) == 1 for ids in raw)


def test_runs_errors_reports_errors_slices_and_the_tie_rule_and_multi_label_has_no_tie_slice(capsys):
    store = RunStore()
    run, _, _ = scored_run(store, skill=1.0)
    assert main(["runs", "errors", run.run_id, "--true", "anger", "--top", "3", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["confident_errors"]) == 3 and {e["true"] for e in document["confident_errors"]} == {"anger"}
    assert document["tie_rule"]["share_of_errors"] == pytest.approx(
        next(s["error_share"] for s in document["slices"] if s["bucket"] == "decided by the tie rule"))
    assert main(["runs", "errors", run.run_id]) == 0
    assert "tie rule:" in capsys.readouterr().out
    multi, _, _ = scored_run(store, task="sentiment", seed=212)
    document = error_report(multi)
    assert document["tie_rule"] is None and {s["slice"] for s in document["slices"]} == {"all", "length",
                                                                                         "raw labels"}


def test_a_run_without_stored_predictions_is_said_to_have_none(capsys):
    from conftest import fake_run

    run = fake_run(RunStore(), "gru", 211, 60.0)
    with pytest.raises(MissingResource, match="no readable test_predictions.csv"):
        error_report(run)
    assert main(["runs", "errors", run.run_id, "--json"]) == 3
    assert "test_predictions.csv" in capsys.readouterr().err
